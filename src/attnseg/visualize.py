"""Pictures with PIL and numpy only: palette masks, overlays, heat-maps, confusion matrices."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Viridis sampled at 0, 1/4, ..., 1: perceptually uniform and readable in grey-scale print.
_VIRIDIS = np.array([(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], np.float32)
Palette = Sequence[Sequence[int]]


def font(size: int = 12) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def colormap(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to viridis RGB: (...,) float -> (..., 3) uint8."""
    v = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0) * (len(_VIRIDIS) - 1)
    low = np.floor(v).astype(int).clip(max=len(_VIRIDIS) - 2)
    t = (v - low)[..., None]
    return np.round((1 - t) * _VIRIDIS[low] + t * _VIRIDIS[low + 1]).astype(np.uint8)


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


def grid(rows: Sequence[Sequence[tuple[str, Image.Image]]], pad: int = 4, title_px: int = 16) -> Image.Image:
    """Lay out titled panels in rows (each panel keeps its size) on a white canvas."""
    row_heights = [max(im.height for _, im in row) + title_px + pad for row in rows]
    widths = [sum(im.width + pad for _, im in row) + pad for row in rows]
    canvas = Image.new("RGB", (max(widths), sum(row_heights) + pad), "white")
    draw, text_font = ImageDraw.Draw(canvas), font(title_px - 4)
    top = pad
    for row, height in zip(rows, row_heights, strict=True):
        left = pad
        for title, im in row:
            draw.text((left, top), title, fill="black", font=text_font)
            canvas.paste(im.convert("RGB"), (left, top + title_px))
            left += im.width + pad
        top += height
    return canvas


def confusion_matrix_image(confmat: np.ndarray, class_names: Sequence[str], cell: int = 44) -> Image.Image:
    """Row-normalised confusion matrix (rows: true class, columns: prediction) as a heat-map.

    Each cell shows the fraction of the true class's pixels predicted as the column's class;
    rows of classes absent from the ground truth stay empty (grey).
    """
    totals = confmat.sum(axis=1, keepdims=True)
    rates = np.divide(confmat, totals, out=np.full(confmat.shape, np.nan), where=totals > 0)
    k = len(class_names)
    label_font, cell_font = font(12), font(max(cell // 4, 8))
    margin = max(int(label_font.getlength(name)) for name in class_names) + 24
    canvas = Image.new("RGB", (margin + k * cell + 8, margin + k * cell + 8), "white")
    draw = ImageDraw.Draw(canvas)
    cells = np.where(np.isnan(rates)[..., None], 200, colormap(rates)).astype(np.uint8)
    grid_rgb = np.repeat(np.repeat(cells, cell, axis=0), cell, axis=1)
    canvas.paste(Image.fromarray(grid_rgb), (margin, margin))
    for i in range(k):
        for j in range(k):
            if not np.isnan(rates[i, j]):
                color = "black" if rates[i, j] > 0.6 else "white"
                xy = (margin + j * cell + cell // 2, margin + i * cell + cell // 2)
                draw.text(xy, f"{rates[i, j]:.2f}", fill=color, font=cell_font, anchor="mm")
    for i, name in enumerate(class_names):
        draw.text(
            (margin - 6, margin + i * cell + cell // 2), name, fill="black", font=label_font, anchor="rm"
        )
        label = Image.new("RGB", (margin - 6, cell), "white")
        ImageDraw.Draw(label).text((2, cell // 2), name, fill="black", font=label_font, anchor="lm")
        canvas.paste(label.rotate(90, expand=True), (margin + i * cell, 0))
    draw.text((4, 4), "rows: true", fill="black", font=label_font)
    draw.text((4, 20), "cols: predicted", fill="black", font=label_font)
    return canvas
