"""LightningModule: loss over every model output, per-split torchmetrics, SGD/AdamW + poly LR.

It also writes the checkpoint format's one addition to Lightning's: the run's resolved config,
under :data:`RUN_CONFIG_KEY`, which :mod:`attnseg.inference.checkpoint` reads back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from attnseg.training.metrics import flatten_metrics, segmentation_metrics, train_metrics

# checkpoint["attnseg_config"]: the resolved config of the run that wrote the checkpoint
RUN_CONFIG_KEY = "attnseg_config"


class SegmentationModule(L.LightningModule):
    """Trains a :class:`~attnseg.models.Segmentor`.

    Args:
        net: the segmentor; returns a dict of logits (``out``, and in training ``aux`` etc.).
        loss: criterion ``loss(logits, target)`` applied to every output.
        optimizer: ``_partial_`` optimizer, called with two parameter groups (backbone, heads).
        scheduler: ``_partial_`` LR scheduler called with ``optimizer`` and ``total_iters`` (the
            number of optimizer steps of the whole fit); stepped every iteration. ``None``: constant.
        num_classes: number of classes.
        class_names: class names for per-class metrics.
        ignore_index: label ignored by the metrics.
        loss_weights: weight per output name; outputs not listed weigh 1.0 (``aux`` defaults to 0.4).
        head_lr_mult: learning-rate multiplier for the decode/aux heads relative to the backbone.
        run_config: the run's resolved config as plain containers; stored in every checkpoint
            (``checkpoint["attnseg_config"]``) so that eval / predict / export rebuild the model.
        example_input_size: ``(height, width)`` of a training input, or one int for a square;
            Lightning's model summary then reports the FLOPs of one such image. ``None`` (images
            of varying size): no example input, and the summary's FLOPs stay 0.
    """

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        *,
        num_classes: int,
        class_names: Sequence[str],
        ignore_index: int = 255,
        loss_weights: Mapping[str, float] | None = None,
        head_lr_mult: float = 10.0,
        run_config: Mapping[str, Any] | None = None,
        example_input_size: int | Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.criterion = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.class_names = list(class_names)
        self.loss_weights = {"out": 1.0, "aux": 0.4, **dict(loss_weights or {})}
        self.head_lr_mult = head_lr_mult
        metrics = segmentation_metrics(num_classes, ignore_index)
        self.train_metrics = train_metrics(num_classes, ignore_index).clone(prefix="train/")
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        self.run_config = dict(run_config) if run_config is not None else None
        if example_input_size is not None:
            height, width = _pair(example_input_size)
            # zeros, not random: building it must not draw from the RNG that seeds the run
            self.example_input_array = torch.zeros(1, 3, height, width)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)["out"]

    def compute_loss(
        self, outputs: Mapping[str, torch.Tensor], masks: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training objective: ``(weighted total, loss per output)`` for the net's outputs."""
        losses = {name: self.criterion(logits, masks) for name, logits in outputs.items()}
        return sum(self.loss_weights.get(name, 1.0) * value for name, value in losses.items()), losses

    def _shared_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], split: str, score: bool = True
    ) -> dict[str, torch.Tensor]:
        """Forward, loss and logging of one batch; ``score=False`` leaves the split's metrics alone."""
        images, masks = batch
        outputs = self.net(images)
        loss, losses = self.compute_loss(outputs, masks)
        result = {"loss": loss}
        if score:
            # the same indices as argmax (first maximum), ~10x faster on CPU
            result["preds"] = outputs["out"].detach().max(dim=1).indices  # (B, H, W)
            getattr(self, f"{split}_metrics").update(result["preds"], masks)
        batch_size = len(images)
        if split == "train":
            self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=batch_size)
            if self._logger_writes():  # the per-output losses: a point per written step, no epoch mean
                self.log_dict(
                    {f"train/loss_{n}": v for n, v in losses.items() if len(losses) > 1},
                    batch_size=batch_size,
                )
        else:
            self.log(f"{split}/loss", loss, on_epoch=True, prog_bar=True, batch_size=batch_size)
            if len(losses) > 1:
                self.log_dict(
                    {f"{split}/loss_{n}": v for n, v in losses.items()}, on_epoch=True, batch_size=batch_size
                )
        return result

    def _logger_writes(self) -> bool:
        """Whether the logger writes this training step's values (every ``log_every_n_steps``)."""
        return (self.global_step + 1) % self.trainer.log_every_n_steps == 0

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> dict[str, torch.Tensor]:
        writes = self._logger_writes()
        if writes:
            self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True, on_epoch=False)
        # train/miou and train/iou_<class> sample the epoch: the batches of the steps the logger
        # writes, and the epoch's last (so that an epoch shorter than log_every_n_steps has one);
        # scoring every step cost ~1% of a CPU training step for a figure validation gives exactly
        last = batch_idx == self.trainer.num_training_batches - 1
        return self._shared_step(batch, "train", score=writes or last)

    def validation_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> dict[str, torch.Tensor]:
        return self._shared_step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> dict[str, torch.Tensor]:
        return self._shared_step(batch, "test")

    def _log_epoch_metrics(self, split: str) -> None:
        metrics = getattr(self, f"{split}_metrics")
        if not all(metric.update_called for metric in metrics.values()):
            return  # a training epoch cut short (max_steps) before a scored step: nothing to report
        flat = flatten_metrics(metrics.compute(), self.class_names)
        if split != "train" and not self.trainer.sanity_checking:
            # one plain line per epoch: readable in CI / SLURM logs where no progress bar renders
            rank_zero_info(
                f"epoch {self.current_epoch} {split}: miou={flat[f'{split}/miou']:.4f} acc={flat[f'{split}/acc']:.4f}"
            )
        miou = flat.pop(f"{split}/miou")
        self.log(f"{split}/miou", miou, prog_bar=True)  # already reduced across ranks by torchmetrics
        self.log_dict(flat)
        metrics.reset()

    def on_train_epoch_end(self) -> None:
        self._log_epoch_metrics("train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch_metrics("test")

    def build_optimizer(self) -> torch.optim.Optimizer:
        """The optimizer over two parameter groups: backbone, and heads at ``head_lr_mult`` x its LR."""
        backbone = [p for p in self.net.backbone.parameters() if p.requires_grad]
        heads = [
            p for n, p in self.net.named_parameters() if not n.startswith("backbone.") and p.requires_grad
        ]
        optimizer = self.optimizer_factory(params=[{"params": backbone}, {"params": heads}])
        optimizer.param_groups[1]["lr"] *= self.head_lr_mult
        return optimizer

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = self.build_optimizer()
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        scheduler = self.scheduler_factory(
            optimizer=optimizer, total_iters=self.trainer.estimated_stepping_batches
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.run_config is not None:
            checkpoint[RUN_CONFIG_KEY] = self.run_config


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    """``(height, width)`` from one side or a pair; anything else is a config error."""
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(side, int) and side > 0 for side in pair):
        raise ValueError(
            f"model.example_input_size must be one side or [height, width] in pixels, got {size}"
        )
    return pair
