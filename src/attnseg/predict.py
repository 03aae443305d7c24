"""Predict masks for image files: ``predict(cfg)``; ``predict.py`` at the repo root wraps it.

For every image it writes ``<name>_mask.png``, a palettised PNG whose pixel values are the class
ids (viewers show the dataset palette), and ``<name>_overlay.png``, the image with the class
colours blended in.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import rich.progress
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from PIL import Image

from attnseg.checkpoint import build_model, load_checkpoint, merge_run_config, pick_device
from attnseg.inference import Model, SegmentationInference
from attnseg.visualize import blend, colorize, mask_image

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def predict(cfg: DictConfig) -> list[Path]:
    """Predict every image of ``cfg.input`` into ``cfg.output``; returns the files written."""
    checkpoint = load_checkpoint(cfg.ckpt_path)
    cfg = merge_run_config(cfg, checkpoint)
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


def run(cfg: DictConfig) -> None:
    """Hydra task function."""
    predict(cfg)


def list_images(path: str | Path) -> list[Path]:
    """The image itself, or the images of a folder (not recursive), sorted by name."""
    path = Path(path).expanduser()
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"input: no such file or folder {str(path)!r}; expected an image or a folder")
    images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(f"input: folder {str(path)!r} has no images ({', '.join(IMAGE_SUFFIXES)})")
    return images


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); a clear error when it cannot be decoded."""
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"))  # a writable copy
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise ValueError(
            f"input: cannot read {str(path)!r} as an image ({err}); expected an image file "
            f"({', '.join(IMAGE_SUFFIXES)})"
        ) from err


def predict_image(
    model: Model, inference: SegmentationInference, image: np.ndarray, device: torch.device
) -> np.ndarray:
    """Label map (H, W) uint8 of an RGB uint8 image (H, W, 3)."""
    x = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float().div(255).to(device)  # (1, 3, H, W)
    return inference.predict(model, x)[0].to(torch.uint8).cpu().numpy()
