"""Validation predictions as W&B images with interactive mask overlays."""

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
