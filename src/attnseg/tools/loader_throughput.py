"""Does loading keep up with training? Loader images/s next to model training-step images/s.

With the same overrides as ``attnseg-train``::

    attnseg-loader-throughput dataset=cityscapes dataset.root=/data/cityscapes \\
        backbone=resnet50d dataset.num_workers=8 --batches 50 --steps 20

The loader is the configured training DataLoader (workers, pinned memory, the full train
augmentation); the model step is forward + loss + backward + optimizer step of the configured
LightningModule on one loader batch (its own ``compute_loss`` and ``build_optimizer``, so the
weighted losses and the head LR groups are the ones training uses), on the GPU when there is one, in the trainer's precision. When the
loader is slower than the model, training waits on data: raise ``dataset.num_workers``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Sequence

import lightning as L
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from attnseg.config.compose import compose
from attnseg.training.module import SegmentationModule


def loader_throughput(loader: DataLoader, batches: int) -> tuple[float, float]:
    """(seconds to the first batch, steady-state images/s over ``batches`` batches).

    Worker start-up and the batches the workers had prefetched meanwhile are left out of the
    rate (they would inflate it); epochs repeat as needed, so a small split still gives a rate.
    """

    def endless():
        while True:
            yield from loader

    batches_out = endless()
    start = time.perf_counter()
    next(batches_out)
    first = time.perf_counter() - start
    for _ in range(loader.num_workers):  # drain what was prefetched while the first batch waited
        next(batches_out)
    images, start = 0, time.perf_counter()
    for _ in range(batches):
        images += len(next(batches_out)[0])
    seconds = time.perf_counter() - start
    batches_out.close()
    return first, images / seconds


def step_throughput(
    module: SegmentationModule, batch: Sequence[torch.Tensor], steps: int, precision: str
) -> float:
    """Images/s of full training steps (forward, weighted loss over all outputs, backward, update)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    module = module.to(device).train()
    images, masks = (t.to(device) for t in batch)
    optimizer = module.build_optimizer()
    dtype = {"16": torch.float16, "bf16": torch.bfloat16}.get(str(precision).split("-")[0])
    autocast = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss, _ = module.compute_loss(module.net(images), masks)
        loss.backward()
        optimizer.step()

    step()  # warm-up: allocator, cuDNN autotuning
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * len(images) / (time.perf_counter() - start)


def print_report(
    cfg: DictConfig, datamodule: L.LightningDataModule, first: float, loader_ips: float, model_ips: float
) -> None:
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    train_set = datamodule.train_set
    print(f"train split  {type(train_set).__name__}, {len(train_set)} images, root {cfg.dataset.get('root')}")
    print(
        f"loader       {loader_ips:9.2f} images/s  (batch {datamodule.batch_size}, "
        f"{datamodule.num_workers} workers, first batch after {first:.2f} s)"
    )
    print(
        f"model step   {model_ips:9.2f} images/s  ({cfg.backbone.name} + {cfg.head._target_.rsplit('.', 1)[-1]}, "
        f"{device}, {cfg.trainer.precision})"
    )
    if loader_ips < model_ips:
        print(
            f"loader-bound: the loader feeds {loader_ips / model_ips:.0%} of what the model could train on; "
            "raise dataset.num_workers (or make the train augmentation cheaper)"
        )
    else:
        print(f"model-bound: the loader delivers {loader_ips / model_ips:.1f}x what the model consumes")


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for train.py")
    parser.add_argument("--batches", type=int, default=20, help="loader batches to time (after the first)")
    parser.add_argument(
        "--steps", type=int, default=10, help="model training steps to time (after one warm-up)"
    )
    args = parser.parse_intermixed_args(argv)
    cfg = compose("train", args.overrides)
    datamodule = instantiate(cfg.dataset)
    loader = datamodule.train_dataloader()
    first, loader_ips = loader_throughput(loader, args.batches)
    module = instantiate(cfg.model)
    model_ips = step_throughput(module, next(iter(loader)), args.steps, cfg.trainer.precision)
    print_report(cfg, datamodule, first, loader_ips, model_ips)
    GlobalHydra.instance().clear()
    return {"loader_images_per_s": loader_ips, "model_images_per_s": model_ips, "first_batch_s": first}


def cli() -> None:
    """Console-script entry point (``[project.scripts]``): ``main`` on the command line's arguments."""
    main(sys.argv[1:])


if __name__ == "__main__":
    cli()
