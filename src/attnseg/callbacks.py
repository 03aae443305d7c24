"""Callbacks: validation predictions as W&B images, attention gammas as scalars."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger


class LogValPredictions(L.Callback):
    """Logs the first ``num_images`` validation images of every epoch with predicted and true
    masks overlaid (W&B's interactive mask viewer). Does nothing without a W&B logger.

    Args:
        num_images: images logged per validation epoch.
    """

    def __init__(self, num_images: int = 4) -> None:
        self.num_images = num_images

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if batch_idx != 0 or trainer.sanity_checking or self.num_images <= 0:
            return
        loggers = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
        if not loggers:
            return
        images, masks = batch
        n = min(self.num_images, len(images))
        labels = dict(enumerate(pl_module.class_names))
        pictures = (images[:n].clamp(0, 1) * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        overlays = [
            {
                "prediction": {"mask_data": outputs["preds"][i].cpu().numpy(), "class_labels": labels},
                "ground_truth": {"mask_data": masks[i].cpu().numpy(), "class_labels": labels},
            }
            for i in range(n)
        ]
        for logger in loggers:
            logger.log_image("val/predictions", list(pictures), step=trainer.global_step, masks=overlays)


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
        for path, gamma in self.gammas.items():
            pl_module.log(f"gamma/{path}", gamma.detach().float().mean(), on_step=True, on_epoch=False)
