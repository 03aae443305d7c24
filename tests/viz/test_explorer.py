"""The explorer page's embedded data: rows survive the uint8 round trip, the page needs nothing else."""

from __future__ import annotations

import base64
import io
import re
import zlib

import numpy as np
import pytest
from PIL import Image

from attnseg.viz.explorer import (
    MAX_CELLS,
    ChannelView,
    SpatialView,
    explorer_page,
    quantize_rows,
    read_page_data,
)


def decode_maps(page: str) -> dict[str, tuple[np.ndarray, np.ndarray, tuple[int, int]]]:
    """label -> (uint8 rows (N, N), row peaks (N,), grid), decoded independently of the encoder."""
    maps = {}
    for view in read_page_data(page)["spatial"]:
        h, w = view["h"], view["w"]
        rows = np.frombuffer(zlib.decompress(base64.b64decode(view["rows"])), np.uint8)
        peaks = np.frombuffer(base64.b64decode(view["peaks"]), "<f4")
        maps[view["label"]] = (rows.reshape(h * w, h * w), peaks, (h, w))
    return maps


def data_url_pixels(url: str) -> np.ndarray:
    head, payload = url.split(",", 1)
    assert head == "data:image/png;base64"
    with Image.open(io.BytesIO(base64.b64decode(payload))) as image:
        return np.asarray(image.convert("RGB"))


def softmax_rows(rng: np.random.Generator, cells: int) -> np.ndarray:
    logits = rng.normal(size=(cells, cells)) * 3
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def test_rows_survive_the_page_within_quantisation_error() -> None:
    rng = np.random.default_rng(0)
    attention = softmax_rows(rng, 3 * 5)
    image = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    page = explorer_page(image, [SpatialView("pam", attention, (3, 5))])
    rows, peaks, grid = decode_maps(page)["pam"]
    assert grid == (3, 5)
    np.testing.assert_allclose(peaks, attention.max(axis=1), rtol=1e-6)
    assert (rows.max(axis=1) == 255).all()  # every row scaled to its own peak
    error = np.abs(rows * peaks[:, None] / 255 - attention)
    assert (error <= peaks[:, None] / 510 + 1e-7).all()
    np.testing.assert_array_equal(data_url_pixels(read_page_data(page)["image"]["png"]), image)


def test_zero_and_negative_weights_quantise_to_zero() -> None:
    rows, peaks = quantize_rows(np.array([[0.0, 0.0], [-1.0, 2.0]]))
    np.testing.assert_array_equal(rows, [[0, 0], [0, 255]])
    np.testing.assert_array_equal(peaks, [0.0, 2.0])


def test_page_loads_nothing_from_outside_and_escapes_its_text() -> None:
    image = np.zeros((16, 16, 3), np.uint8)
    label = "</script><script>alert(1)</script>"
    page = explorer_page(
        image,
        [SpatialView(label, np.eye(4, dtype=np.float32), (2, 2))],
        [ChannelView("cam", np.array([[0.2, 0.8], [0.5, 0.5]]))],
        mask_overlay=image,
        classes=[("background", (0, 0, 0))],
        title="<b>scene</b>",
    )
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not re.search(r"https?:|src=\"//|url\(|@import", page), "the page must not load anything"
    assert page.count("</script>") == 2 and "<title>&lt;b&gt;scene&lt;/b&gt;</title>" in page
    data = read_page_data(page)
    assert data["spatial"][0]["label"] == label and data["classes"] == [
        {"name": "background", "color": [0, 0, 0]}
    ]
    (cam,) = data["channel"]
    assert (cam["size"], cam["min"], cam["max"]) == (2, 0.2, 0.8)
    assert data_url_pixels(cam["png"]).shape == (2, 2, 3)


def test_too_many_cells_are_refused() -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    grid = (65, 64)  # the shape is never looked at: the size check comes first
    with pytest.raises(ValueError, match=rf"65 x 64 grid has 4160 query cells.*at most N = {MAX_CELLS}"):
        explorer_page(image, [SpatialView("pam", np.zeros((1, 1), np.float32), grid)])


def test_a_map_that_does_not_fit_its_grid_is_refused() -> None:
    with pytest.raises(ValueError, match=r"pam: attention of shape \(6, 6\) does not fit its 2 x 2 grid"):
        explorer_page(np.zeros((8, 8, 3), np.uint8), [SpatialView("pam", np.zeros((6, 6)), (2, 2))])
    with pytest.raises(ValueError, match="no spatial attention map"):
        explorer_page(np.zeros((8, 8, 3), np.uint8), [])
