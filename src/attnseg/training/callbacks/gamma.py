"""The residual ``gamma`` of every attention module, logged as a scalar during training."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch


class LogAttentionGamma(L.Callback):
    """Logs every parameter named ``gamma`` as ``gamma/<module path>`` (e.g. ``gamma/net.head.pam``).

    The attention heads scale their attention branch by a learnable ``gamma`` initialised at 0,
    so these curves show when (and how strongly) attention is switched on during training.
    Logged at the trainer's ``log_every_n_steps`` cadence; a ``gamma`` with several entries is
    logged as its mean. Does nothing for models without one.
    """

    def __init__(self) -> None:
        self.gammas: dict[str, torch.nn.Parameter] = {}

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.gammas = {
            name.removesuffix(".gamma"): param
            for name, param in pl_module.named_parameters()
            if name.rsplit(".", 1)[-1] == "gamma"
        }

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step % trainer.log_every_n_steps:  # only the steps the logger writes
            return
        for path, gamma in self.gammas.items():
            pl_module.log(f"gamma/{path}", gamma.detach().float().mean(), on_step=True, on_epoch=False)
