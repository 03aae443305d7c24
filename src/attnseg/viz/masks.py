"""Label maps as pictures: palette colours, palettised PNGs, blended overlays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

Palette = Sequence[Sequence[int]]


def colorize(mask: np.ndarray, palette: Palette) -> np.ndarray:
    """Class-index mask (H, W) -> RGB (H, W, 3); labels outside the palette (ignore) are black."""
    colors = np.zeros((256, 3), np.uint8)
    colors[: len(palette)] = np.asarray(palette, np.uint8)
    return colors[mask.astype(np.uint8)]


def blend(image: np.ndarray, layer: np.ndarray, alpha: float) -> np.ndarray:
    """``(1 - alpha) * image + alpha * layer`` for uint8 RGB arrays."""
    mixed = (1.0 - alpha) * image.astype(np.float32) + alpha * layer.astype(np.float32)
    return np.round(mixed).astype(np.uint8)


def mask_image(mask: np.ndarray, palette: Palette) -> Image.Image:
    """Palettised ("P") PNG image: pixel values are the class indices, viewers show the colours."""
    image = Image.fromarray(mask.astype(np.uint8), mode="P")
    flat = [channel for color in palette for channel in color]
    image.putpalette(flat + [0] * (768 - len(flat)))
    return image
