"""A row-normalised confusion matrix as a labelled heat-map."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from attnseg.viz.heatmaps import colormap
from attnseg.viz.layout import font


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
