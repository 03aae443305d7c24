"""The attention explorer: one self-contained HTML page where hovering a pixel shows where each
attention module looks from there.

Every spatial map is precomputed for every query cell of the feature grid: an ``(N, N)`` matrix
per view (``N = h * w``, row ``q`` = the weights query cell ``q`` gives every cell). Each row is
scaled to its own maximum and quantised to uint8 (the page shows each row relative to its peak,
as :func:`attnseg.viz.heatmaps.heatmap_overlay` does), deflated and embedded as base64 next to the
row peaks, the image, the predicted-mask overlay, the colour map and the channel-attention
matrices as PNGs. The page template (``explorer.html``) holds a small vanilla-JS canvas renderer
that upsamples the selected row bilinearly over the image; no server, no network, no library.
"""

from __future__ import annotations

import base64
import html
import io
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files

import numpy as np
from PIL import Image

from attnseg.viz.heatmaps import colormap

# A page embeds N * N bytes per view before compression: 16 MiB per view at 4096 cells (64 x 64).
MAX_CELLS = 4096
MIN_DISPLAY = 512  # CSS pixels on the longer side of each picture (small images are enlarged)
_DATA_MARK = "/*ATTNSEG_DATA*/"


@dataclass(frozen=True)
class SpatialView:
    """One panel: ``attention[q]`` is where query cell ``q`` of the ``grid`` (row-major) looks."""

    label: str
    attention: np.ndarray  # (N, N) non-negative, N = grid[0] * grid[1]
    grid: tuple[int, int]


@dataclass(frozen=True)
class ChannelView:
    """A static panel: a channel attention (CAM) ``(C, C)`` matrix."""

    label: str
    weights: np.ndarray  # (C, C)


def quantize_rows(attention: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N, N)`` non-negative -> uint8 rows scaled to their own maximum, and those maxima (float32).

    ``q[i, j] * peaks[i] / 255`` is ``attention[i, j]`` within ``peaks[i] / 510``; an all-zero row
    stays zero.
    """
    # one float32 copy (64 MiB at N = 4096), scaled in place
    rows = np.nan_to_num(attention.astype(np.float32))
    np.clip(rows, 0.0, None, out=rows)
    peaks = rows.max(axis=1, keepdims=True)  # (N, 1)
    rows *= np.divide(255.0, peaks, out=np.zeros_like(peaks), where=peaks > 0)
    return np.rint(rows, out=rows).astype(np.uint8), peaks[:, 0]


def explorer_page(
    image: np.ndarray,
    spatial: Sequence[SpatialView],
    channel: Sequence[ChannelView] = (),
    mask_overlay: np.ndarray | None = None,
    classes: Sequence[tuple[str, Sequence[int]]] = (),
    title: str = "attention explorer",
) -> str:
    """The HTML page for an RGB uint8 ``image`` (H, W, 3), the image the maps were computed on.

    ``mask_overlay`` is the image with the predicted class colours blended in (same size), and
    ``classes`` the (name, RGB colour) legend of the mask.
    """
    if not spatial:
        raise ValueError("explorer_page: no spatial attention map to explore")
    data = {
        "title": title,
        "image": {"height": image.shape[0], "width": image.shape[1], "png": png_data_url(image)},
        "overlay": png_data_url(mask_overlay) if mask_overlay is not None else None,
        "classes": [{"name": name, "color": [int(c) for c in color]} for name, color in classes],
        "colormap": base64.b64encode(colormap(np.linspace(0.0, 1.0, 256)).tobytes()).decode("ascii"),
        "display": MIN_DISPLAY,
        "spatial": [_encode_view(view) for view in spatial],
        "channel": [_encode_channel(view) for view in channel],
    }
    blob = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")  # no early </script>
    template = files("attnseg.viz").joinpath("explorer.html").read_text(encoding="utf-8")
    return template.replace("__TITLE__", html.escape(title)).replace(_DATA_MARK, blob)


def read_page_data(page: str) -> dict:
    """The data embedded in a page written by :func:`explorer_page` (for tests and other tools)."""
    start = page.index('<script id="attnseg-data" type="application/json">')
    start = page.index(">", start) + 1
    return json.loads(page[start : page.index("</script>", start)])


def png_data_url(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _encode_view(view: SpatialView) -> dict:
    h, w = view.grid
    cells = h * w
    if cells > MAX_CELLS:
        raise ValueError(
            f"{view.label}: a {h} x {w} grid has {cells} query cells; the explorer embeds an N x N map "
            f"per view and takes at most N = {MAX_CELLS}: use a smaller image"
        )
    if view.attention.shape != (cells, cells):
        raise ValueError(
            f"{view.label}: attention of shape {view.attention.shape} does not fit its {h} x {w} grid"
        )
    rows, peaks = quantize_rows(view.attention)
    return {
        "label": view.label,
        "h": h,
        "w": w,
        "rows": base64.b64encode(zlib.compress(rows.tobytes())).decode("ascii"),  # deflated (N*N,)
        "peaks": base64.b64encode(peaks.astype("<f4").tobytes()).decode("ascii"),  # (N,) float32 LE
    }


def _encode_channel(view: ChannelView) -> dict:
    values = view.weights.astype(np.float64)
    span = values.max() - values.min()
    scaled = (values - values.min()) / span if span > 0 else np.zeros_like(values)
    return {
        "label": view.label,
        "size": int(values.shape[0]),
        "min": float(values.min()),
        "max": float(values.max()),
        "png": png_data_url(colormap(scaled)),
    }
