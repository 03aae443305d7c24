"""Titled panels laid out in rows on one canvas."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont


def font(size: int = 12) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


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
