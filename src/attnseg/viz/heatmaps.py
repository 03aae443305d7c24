"""Heat-maps over images: a perceptual colour map, overlays, query-pixel markers."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from attnseg.viz.masks import blend

# Viridis sampled at 0, 1/4, ..., 1: perceptually uniform and readable in grey-scale print.
_VIRIDIS = np.array([(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], np.float32)


def colormap(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to viridis RGB: (...,) float -> (..., 3) uint8."""
    v = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0) * (len(_VIRIDIS) - 1)
    low = np.floor(v).astype(int).clip(max=len(_VIRIDIS) - 2)
    t = (v - low)[..., None]
    return np.round((1 - t) * _VIRIDIS[low] + t * _VIRIDIS[low + 1]).astype(np.uint8)


def heatmap_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Overlay a non-negative (H, W) map, scaled to its maximum, on an RGB image of the same size."""
    peak = float(heat.max())
    return blend(image, colormap(heat / peak if peak > 0 else heat), alpha)


def mark_point(image: Image.Image, yx: tuple[int, int], radius: int = 4) -> Image.Image:
    """A copy of ``image`` with a white-and-black ring around pixel ``(y, x)``."""
    marked = image.convert("RGB")
    draw = ImageDraw.Draw(marked)
    y, x = yx
    for r, color in ((radius + 1, (0, 0, 0)), (radius, (255, 255, 255))):
        draw.ellipse((x - r, y - r, x + r, y + r), outline=color, width=2)
    return marked
