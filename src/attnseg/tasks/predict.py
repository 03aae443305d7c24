"""Predict masks for image files: ``predict(cfg)``; ``attnseg-predict`` runs it.

For every image it writes ``<name>_mask.png``, a palettised PNG whose pixel values are the class
ids (viewers show the dataset palette), and ``<name>_overlay.png``, the image with the class
colours blended in.
"""

from __future__ import annotations

import logging
from pathlib import Path

import rich.progress
from hydra.utils import instantiate
from omegaconf import DictConfig
from PIL import Image

from attnseg.inference.checkpoint import build_model, load_checkpoint
from attnseg.inference.device import pick_device
from attnseg.inference.images import list_images, predict_image, read_image
from attnseg.inference.modes import SegmentationInference
from attnseg.tasks.hydra_app import hydra_app, merge_with_checkpoint
from attnseg.viz.masks import blend, colorize, mask_image

log = logging.getLogger(__name__)


def predict(cfg: DictConfig) -> list[Path]:
    """Predict every image of ``cfg.input`` into ``cfg.output``; returns the files written."""
    checkpoint = load_checkpoint(cfg.ckpt_path)
    cfg = merge_with_checkpoint(cfg, checkpoint)
    images = list_images(cfg.input)
    device = pick_device(cfg.device)
    model = build_model(cfg, checkpoint, cfg.ckpt_path).to(device)
    inference: SegmentationInference = instantiate(cfg.inference)
    palette = [tuple(c) for c in cfg.dataset.palette]
    output = Path(cfg.output)
    output.mkdir(parents=True, exist_ok=True)

    written: list[Path] = []
    progress = rich.progress.track(images, description="Predicting", disable=len(images) == 1)
    for path in progress:
        image = read_image(path)
        mask = predict_image(model, inference, image, device)
        mask_image(mask, palette).save(output / f"{path.stem}_mask.png")
        overlay = blend(image, colorize(mask, palette), cfg.alpha)
        Image.fromarray(overlay).save(output / f"{path.stem}_overlay.png")
        written += [output / f"{path.stem}_mask.png", output / f"{path.stem}_overlay.png"]
    log.info(f"Wrote masks and overlays of {len(images)} image(s) to {output}")
    return written


main = hydra_app("predict", predict)
