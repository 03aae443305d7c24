"""Validation predictions as pictures: W&B's interactive mask overlays, a rendered grid elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger
from PIL import Image

from attnseg.training.loggers import log_image
from attnseg.viz.layout import grid
from attnseg.viz.masks import colorize


class LogValPredictions(L.Callback):
    """Logs the first ``num_images`` validation images of every epoch with predicted and true
    masks: to W&B with the masks overlaid (its interactive mask viewer), to the other loggers that
    show pictures (TensorBoard, MLflow) as one grid, a row per image: image, prediction, truth.

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
        if batch_idx != 0 or trainer.sanity_checking or self.num_images <= 0 or not trainer.loggers:
            return
        images, masks = batch
        n = min(self.num_images, len(images))
        pictures = (images[:n].clamp(0, 1) * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        preds, truths = outputs["preds"][:n].cpu().numpy(), masks[:n].cpu().numpy()
        wandb = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
        others = [lg for lg in trainer.loggers if not isinstance(lg, WandbLogger)]
        if wandb:
            labels = dict(enumerate(pl_module.class_names))
            overlays = [
                {
                    "prediction": {"mask_data": preds[i], "class_labels": labels},
                    "ground_truth": {"mask_data": truths[i], "class_labels": labels},
                }
                for i in range(n)
            ]
            for logger in wandb:
                logger.log_image("val/predictions", list(pictures), step=trainer.global_step, masks=overlays)
        if others:
            # the datamodule's palette, as `attnseg-predict` draws masks; made up without a datamodule
            palette = getattr(trainer.datamodule, "palette", None) or _palette(len(pl_module.class_names))
            picture = prediction_grid(pictures, preds, truths, palette)
            log_image(others, "val/predictions", picture, step=trainer.global_step)


def prediction_grid(
    images: np.ndarray, preds: np.ndarray, truths: np.ndarray, palette: Sequence[Sequence[int]]
) -> Image.Image:
    """One row per image (uint8 (N, H, W, 3), masks (N, H, W)): the image, the predicted and the
    true masks in the palette's colours (ignored pixels black)."""
    rows = [
        [
            ("image", Image.fromarray(image)),
            ("prediction", Image.fromarray(colorize(pred, palette))),
            ("truth", Image.fromarray(colorize(truth, palette))),
        ]
        for image, pred, truth in zip(images, preds, truths, strict=True)
    ]
    return grid(rows)


def _palette(num_classes: int) -> list[list[int]]:
    return np.random.default_rng(0).integers(0, 256, (num_classes, 3)).tolist()
