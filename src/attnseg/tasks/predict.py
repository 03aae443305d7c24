"""Predict masks for image files: ``predict(cfg)``; ``attnseg-predict`` runs it.

What is written per image is the writer's choice (``writer=<option>``, ``conf/writer/``;
``attnseg.inference.writers``): by default ``<name>_mask.png``, a palettised PNG whose pixel
values are the class ids, and ``<name>_overlay.png``; ``writer=cityscapes`` / ``writer=ade20k``
write a test-server submission folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

import rich.progress
from hydra.utils import instantiate
from omegaconf import DictConfig

from attnseg.inference.checkpoint import build_model, load_checkpoint
from attnseg.inference.device import pick_device
from attnseg.inference.images import list_images, predict_image, read_image
from attnseg.inference.modes import SegmentationInference
from attnseg.inference.writers import Writer
from attnseg.tasks.hydra_app import hydra_app, merge_with_checkpoint

log = logging.getLogger(__name__)


def predict(cfg: DictConfig) -> list[Path]:
    """Predict every image of ``cfg.input`` into ``cfg.output``; returns the files written."""
    checkpoint = load_checkpoint(cfg.ckpt_path)
    cfg = merge_with_checkpoint(cfg, checkpoint)
    images = list_images(cfg.input, recursive=cfg.recursive)
    writer: Writer = instantiate(cfg.writer)
    output = Path(cfg.output)
    writer.prepare(images, output)  # before the model runs: clashing names, a non-empty folder
    device = pick_device(cfg.device)
    model = build_model(cfg, checkpoint, cfg.ckpt_path).to(device)
    inference: SegmentationInference = instantiate(cfg.inference)

    written: list[Path] = []
    progress = rich.progress.track(images, description="Predicting", disable=len(images) == 1)
    for path in progress:
        image = read_image(path)
        written += writer.write(output, path, image, predict_image(model, inference, image, device))
    log.info(f"Wrote {len(written)} file(s) for {len(images)} image(s) to {output}")
    return written


main = hydra_app("predict", predict)
