"""The attention-map picture: per query pixel, where each attention module looks (over the image)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from attnseg.models.attention.capture import Maps, is_spatial, query_row
from attnseg.viz.heatmaps import colormap, heatmap_overlay, mark_point
from attnseg.viz.layout import grid

MIN_PANEL = 256  # pixels on the longer side of each picture panel


def render(
    image: np.ndarray,
    maps: Maps,
    modules: dict[str, nn.Module],
    points: Sequence[tuple[int, int]],
    scale: float = 1.0,
) -> Image.Image:
    """One grid picture: a row per query pixel, then a row of channel-attention matrices.

    ``image`` is the picture the maps were computed on: the user's image resized by ``scale``;
    ``points`` are pixels of the user's image.
    """
    height, width = image.shape[:2]
    zoom = max(1.0, MIN_PANEL / max(height, width))  # small images are enlarged so titles fit
    shown = (round(height * zoom), round(width * zoom))
    picture = np.asarray(Image.fromarray(image).resize(shown[::-1], Image.BILINEAR))
    spatial = {n: c for n, c in maps.items() if is_spatial(c[0][0], c[0][1], modules[n])}
    rows = []
    for point in points:
        y, x = (min(int(v * scale), size - 1) for v, size in zip(point, (height, width), strict=True))
        mark = (int(y * zoom), int(x * zoom))
        row = [(f"query {tuple(point)}", mark_point(Image.fromarray(picture), mark))]
        for name, calls in spatial.items():
            h, w = calls[0][1]
            index = min(y * h // height, h - 1) * w + min(x * w // width, w - 1)  # row-major query pixel
            views = [("", [calls[0][0][0]])]
            if len(calls) > 1:
                views = [(" pass 1", views[0][1]), (f" after {len(calls)} passes", [a[0] for a, _ in calls])]
            for label, per_pass in views:
                heat = query_row(per_pass, index).view(1, 1, h, w)
                heat = F.interpolate(heat, size=shown, mode="bilinear", align_corners=False)[0, 0]
                overlay = Image.fromarray(heatmap_overlay(picture, heat.clamp(min=0).numpy()))
                row.append((f"{name}{label}", mark_point(overlay, mark)))
        rows.append(row)
    channel = [
        (f"{n} (C x C)", _matrix_image(c[0][0][0], max(shown))) for n, c in maps.items() if n not in spatial
    ]
    return grid(rows + ([channel] if channel else []))


def _matrix_image(matrix: torch.Tensor, size: int) -> Image.Image:
    """A (C, C) map scaled to its own range, as a square heat-map of ``size`` pixels."""
    values = matrix.numpy()
    span = values.max() - values.min()
    scaled = (values - values.min()) / span if span > 0 else np.zeros_like(values)
    return Image.fromarray(colormap(scaled)).resize((size, size), Image.NEAREST)
