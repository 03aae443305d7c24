"""Training throughput of a run, logged as ``train/images_per_s`` for the sweep report."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch


class TrainThroughput(L.Callback):
    """Logs the images per second of the training steps (forward, backward, optimizer step).

    Time spent waiting for the data loader is left out, so the number compares models rather
    than loaders (``attnseg-loader-throughput`` compares the two). The first
    ``warmup_steps`` steps of the fit (allocator, cuDNN autotuning) are not counted. Logged at
    each training epoch end as the average since the warm-up, summed over DDP ranks.

    Args:
        warmup_steps: training steps left out at the start of the fit.
    """

    def __init__(self, warmup_steps: int = 2) -> None:
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.warmup_steps = warmup_steps
        self.steps = 0
        self.images = 0
        self.seconds = 0.0
        self._start: float | None = None

    def _sync(self, pl_module: L.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._sync(pl_module)
        self._start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._start is None:
            return
        self._sync(pl_module)
        self.steps += 1
        if self.steps > self.warmup_steps:
            self.seconds += time.perf_counter() - self._start
            self.images += len(batch[0])
        self._start = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Reduced here, by every rank at the same point: with `self.log(sync_dist=True)` the
        # reduction would wait for the first reader of the metric, the rank-zero progress bar,
        # and the other ranks would never join it (a deadlock).
        rate = torch.tensor(self.images / self.seconds if self.seconds else 0.0, device=pl_module.device)
        rate = trainer.strategy.reduce(rate, reduce_op="sum")
        if rate > 0:
            pl_module.log("train/images_per_s", rate)
