"""The template's training step without the template: the reference of ``attnseg-step-overhead``.

The same config (``compose("train", overrides)``), seeded the same way, builds the same
datamodule and :class:`~attnseg.training.module.SegmentationModule`; the loop then uses only
what a training step needs from them: the module's ``net``, ``compute_loss`` (every output,
weighted), ``build_optimizer`` (backbone and heads groups) and its scheduler factory with the
``total_iters`` Lightning would give it, stepped every iteration. No Lightning loop, no logging,
no metrics, no callbacks. Started by the referee as ``python -m attnseg.tools.plain_loop``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from attnseg.config.compose import compose
from attnseg.tools.turns import Baton, Turns, device_sync, param_groups
from attnseg.training.module import SegmentationModule

# the autocast dtype of each Lightning precision the loop reproduces (16-mixed needs a grad scaler)
PRECISIONS = {"32": None, "32-true": None, "bf16-mixed": torch.bfloat16}


def check_supported(cfg: DictConfig) -> None:
    """Refuse, naming the override, a trainer setting the plain loop does not reproduce."""
    trainer = cfg.trainer
    unsupported = {
        "trainer.accumulate_grad_batches": (trainer.get("accumulate_grad_batches", 1), 1),
        "trainer.devices": (trainer.get("devices", 1), 1),
        "trainer.num_nodes": (trainer.get("num_nodes", 1), 1),
        "trainer.strategy": (trainer.get("strategy", "auto"), "auto"),
    }
    for key, (value, supported) in unsupported.items():
        if value != supported:
            raise ValueError(f"{key}={value}: the plain loop runs {key.split('.')[1]}={supported} only")
    if str(trainer.precision) not in PRECISIONS:
        raise ValueError(f"trainer.precision={trainer.precision}: the plain loop runs {sorted(PRECISIONS)}")
    if trainer.get("gradient_clip_algorithm") not in (None, "norm", "value"):
        raise ValueError(f"trainer.gradient_clip_algorithm={trainer.gradient_clip_algorithm} is unknown")


def estimated_steps(trainer: DictConfig, batches_per_epoch: int) -> int | float:
    """``Trainer.estimated_stepping_batches`` on one device (accumulation 1): the poly LR's total_iters."""
    limit = trainer.get("limit_train_batches")
    if isinstance(limit, int):
        batches_per_epoch = min(batches_per_epoch, limit)
    elif limit is not None:
        batches_per_epoch = int(batches_per_epoch * limit)
    max_epochs, max_steps = trainer.get("max_epochs"), trainer.get("max_steps", -1)
    if max_epochs is None:  # Lightning's default: 1000 epochs unless max_steps bounds the fit
        max_epochs = 1000 if max_steps == -1 else -1
    if max_epochs == -1:
        return float("inf") if max_steps == -1 else max_steps
    steps = batches_per_epoch * max(max_epochs, 1)
    return min(steps, max_steps) if max_steps != -1 else steps


def device_of(trainer: DictConfig) -> torch.device:
    """The device Lightning picks for ``trainer.accelerator`` (one device)."""
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", 0)  # devices=1: the first GPU, as Lightning names it
    return torch.device("cpu")


@dataclass
class PlainTraining:
    """The training step's parts, built from a config as ``attnseg-train`` builds them."""

    module: SegmentationModule
    loader: torch.utils.data.DataLoader
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    device: torch.device
    autocast_dtype: torch.dtype | None
    clip_value: float | None
    clip_algorithm: str

    @classmethod
    def from_config(cls, cfg: DictConfig) -> PlainTraining:
        check_supported(cfg)
        if cfg.get("seed") is not None:  # as train(): seed, then datamodule, then model
            L.seed_everything(cfg.seed, workers=True)
        datamodule = instantiate(cfg.dataset)
        module: SegmentationModule = instantiate(cfg.model)
        device = device_of(cfg.trainer)
        torch.backends.cudnn.benchmark = bool(cfg.trainer.get("benchmark") or False)
        module.to(device).train()
        loader = datamodule.train_dataloader()
        optimizer = module.build_optimizer()
        scheduler = None
        if module.scheduler_factory is not None:  # as configure_optimizers
            total = estimated_steps(cfg.trainer, len(loader))
            scheduler = module.scheduler_factory(optimizer=optimizer, total_iters=total)
        return cls(
            module,
            loader,
            optimizer,
            scheduler,
            device,
            PRECISIONS[str(cfg.trainer.precision)],
            cfg.trainer.get("gradient_clip_val"),
            cfg.trainer.get("gradient_clip_algorithm") or "norm",
        )

    def step(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """One training step on one batch; returns the (detached) weighted loss."""
        images, masks = images.to(self.device), masks.to(self.device)
        autocast = (
            torch.autocast(self.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype
            else contextlib.nullcontext()
        )
        with autocast:
            loss, _ = self.module.compute_loss(self.module.net(images), masks)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip_value:
            parameters = self.module.parameters()
            if self.clip_algorithm == "value":
                torch.nn.utils.clip_grad_value_(parameters, self.clip_value)
            else:
                torch.nn.utils.clip_grad_norm_(parameters, self.clip_value)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.detach()

    def learning_rates(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]


def run(baton: Baton, turn_steps: int, overrides: Sequence[str], run_dir: Path | None = None) -> int:
    """Train in turns until the referee says stop; returns the steps run."""
    plain = PlainTraining.from_config(compose("train", overrides, output_dir=run_dir))
    turns = Turns(baton, turn_steps, plain.learning_rates, device_sync(plain.device))
    turns.hello(
        side="plain",
        batches=len(plain.loader),
        param_groups=param_groups(plain.optimizer),
        total_iters=getattr(plain.scheduler, "total_iters", None),
        device=str(plain.device),
    )
    for images, masks in plain.loader:
        if not turns.before_step():
            break
        turns.after_step(len(images), plain.step(images, masks))
    return turns.steps


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for attnseg-train")
    parser.add_argument("--read-fd", type=int, required=True, help="the pipe the referee writes to")
    parser.add_argument("--write-fd", type=int, required=True, help="the pipe the referee reads")
    parser.add_argument("--turn-steps", type=int, default=7, help="training steps per turn")
    parser.add_argument("--run-dir", type=Path, default=None, help="the run directory of the config")
    args = parser.parse_intermixed_args(argv)
    run(Baton(args.read_fd, args.write_fd), args.turn_steps, args.overrides, args.run_dir)


if __name__ == "__main__":
    main()
