"""attnseg-explore: the page holds the model's attention rows; a real browser renders them."""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from attnseg.data.synthetic import render_scene
from attnseg.inference.checkpoint import build_model, load_checkpoint, merge_run_config
from attnseg.models.attention.capture import attention_modules, capture_attention, is_spatial, query_row
from attnseg.tasks.explore import explore, main
from attnseg.tools.explore_bench import CHROMIUM_ARGS, chromium_path
from attnseg.viz.explorer import read_page_data
from tests.conftest import compose_config
from tests.tasks.test_attention_maps import ATTENTION_HEADS, fake_checkpoint, scene
from tests.viz.test_explorer import data_url_pixels, decode_maps

# Debian's chromium; another Chromium-based browser (e.g. a CI runner's google-chrome) through
# ATTNSEG_CHROMIUM; launched as the explorer benchmark launches it
CHROMIUM = chromium_path()


def explore_cfg(ckpt: Path, image: Path, output: Path, *overrides: str):
    overrides = (f"ckpt_path={ckpt}", f"image={image}", f"output={output}", "logger=none", *overrides)
    return compose_config(list(overrides), output, config_name="explore")


def wide_scene(path: Path) -> Path:
    """A 64 x 320 scene: an 8 x 40 feature grid, beacon at one end and crates at the other."""
    image, _ = render_scene(np.random.default_rng(1), (64, 320))
    Image.fromarray(image).save(path)
    return path


def model_maps(ckpt: Path, image: Path, tmp_path: Path):
    """The attention maps of the checkpoint's model on the image, captured here independently."""
    checkpoint = load_checkpoint(ckpt)
    cfg = merge_run_config(compose_config([f"ckpt_path={ckpt}", "image=x"], tmp_path, "explore"), checkpoint)
    net = build_model(cfg, checkpoint, ckpt).net
    x = torch.from_numpy(np.array(Image.open(image).convert("RGB"))).permute(2, 0, 1)[None].float() / 255
    return capture_attention(net, x), attention_modules(net)


def _labels(name: str, calls: int) -> list[str]:
    return [name] if calls == 1 else [f"{name} pass 1", f"{name} after {calls} passes"]


@pytest.mark.parametrize("head", ATTENTION_HEADS)
def test_page_rows_are_the_models_attention_rows(head: str, tmp_path: Path) -> None:
    ckpt = fake_checkpoint(head, tmp_path / f"{head}.ckpt")
    image = scene(tmp_path / "scene.png", 64)
    (page,) = explore(explore_cfg(ckpt, image, tmp_path / "out"))
    assert page == tmp_path / "out" / "scene_explorer.html"
    html = page.read_text()
    decoded = decode_maps(html)
    maps, modules = model_maps(ckpt, image, tmp_path)
    for name, calls in maps.items():
        (attn, grid), passes = calls[0], [a[0] for a, _ in calls]
        if not is_spatial(attn, grid, modules[name]):
            (cam,) = (c for c in read_page_data(html)["channel"] if c["label"] == name)
            assert cam["size"] == attn.shape[-1] and cam["max"] == pytest.approx(attn.max().item())
            continue
        for label, depth in zip(_labels(name, len(calls)), [1, len(calls)], strict=False):
            rows, peaks, page_grid = decoded[label]
            assert page_grid == grid
            for q in (0, 13, grid[0] * grid[1] - 1):
                expected = query_row(passes[:depth], q).numpy()
                assert np.abs(rows[q] * peaks[q] / 255 - expected).max() <= expected.max() / 510 + 1e-6
    assert set(decoded) == {
        label for n, c in maps.items() if is_spatial(*c[0], modules[n]) for label in _labels(n, len(c))
    }


def test_criss_cross_pass_one_is_zero_off_the_querys_row_and_column(tmp_path: Path) -> None:
    ckpt = fake_checkpoint("ccnet", tmp_path / "ccnet.ckpt")
    (page,) = explore(explore_cfg(ckpt, wide_scene(tmp_path / "wide.png"), tmp_path / "out"))
    data = read_page_data(page.read_text())
    assert [c["name"] for c in data["classes"]][:2] == ["background", "disk"] and data["overlay"]
    rows, _, (h, w) = decode_maps(page.read_text())["head.attention pass 1"]
    assert (h, w) == (8, 40)
    for q in (0, 5 * w + 33, h * w - 1):
        y, x = divmod(q, w)
        cross = np.zeros((h, w), bool)
        cross[y, :] = cross[:, x] = True
        row = rows[q].reshape(h, w)
        assert (row[~cross] == 0).all() and row[cross].max() == 255


def test_model_without_attention_is_refused(tmp_path: Path) -> None:
    ckpt = fake_checkpoint("fcn", tmp_path / "fcn.ckpt")
    with pytest.raises(ValueError, match=r"fcn\.ckpt' \(attnseg.models.heads.FCNHead\) has no attention"):
        explore(explore_cfg(ckpt, scene(tmp_path / "s.png"), tmp_path / "out"))


def test_a_grid_too_large_for_a_page_names_max_size(tmp_path: Path) -> None:
    ckpt = fake_checkpoint("self_attn", tmp_path / "model.ckpt")
    Image.new("RGB", (520, 520), (90, 90, 90)).save(tmp_path / "big.png")  # 65 x 65 cells at stride 8
    cfg = explore_cfg(ckpt, tmp_path / "big.png", tmp_path / "out", "max_size=1024")
    with pytest.raises(
        ValueError,
        match=r"max_size=1024 is 520x520 and gives a 65 x 65 attention grid \(4225 query cells\).*"
        r"at most N = 4096: lower it, e.g. max_size=512",
    ):
        explore(cfg)


def test_cli_logs_the_page_to_wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = fake_checkpoint("danet", tmp_path / "model.ckpt")
    argv = ["attnseg-explore", f"ckpt_path={ckpt}", f"image={scene(tmp_path / 'a.png', 48)}", "logger=wandb"]
    monkeypatch.setattr(sys, "argv", [*argv, f"hydra.run.dir={tmp_path / 'run'}"])
    GlobalHydra.instance().clear()
    main()  # the console script's entry point, with this command line
    assert (tmp_path / "run" / "a_explorer.html").is_file()
    (run,) = (tmp_path / "run" / "wandb").glob("offline-run-*")
    (logged,) = (run / "files" / "media" / "html" / "explorer").glob("a_*.html")
    assert logged.read_text() == (tmp_path / "run" / "a_explorer.html").read_text()  # as written: no CDN css


def reference(image: np.ndarray, row: np.ndarray, grid: tuple[int, int], lut: np.ndarray) -> np.ndarray:
    """What the page should draw for one quantised row: bilinear upsampling, viridis, 60 % over the image."""
    heat = torch.from_numpy(row.reshape(1, 1, *grid).astype(np.float32))
    heat = F.interpolate(heat, size=image.shape[:2], mode="bilinear", align_corners=False)[0, 0]
    colour = lut[heat.round().long().clamp(0, 255).numpy()]
    return 0.4 * image + 0.6 * colour


def _playwright():
    """Playwright's sync API driving Debian's Chromium, or a skip that says what is missing."""
    if not CHROMIUM.is_file():
        pytest.skip(
            f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium, or set ATTNSEG_CHROMIUM)"
        )
    return pytest.importorskip(
        "playwright.sync_api",
        reason="needs Playwright for Python (pip install playwright; no browser download)",
    )


@contextmanager
def _opened(sync_api, page_file: Path) -> Iterator[tuple[Any, list[str]]]:
    """The page loaded in headless Chromium, and the problems it reports (errors, any request out)."""
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda m: problems.append(f"console {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed request {r.url}"))
            page.on("request", lambda r: r.url.startswith(("file:", "data:")) or problems.append(r.url))
            page.goto(page_file.as_uri())
            page.wait_for_selector("body[data-ready]", timeout=15_000)
            yield page, problems
        finally:
            browser.close()


@pytest.mark.slow
def test_a_browser_shows_each_clicked_pixels_attention(tmp_path: Path) -> None:
    sync_api = _playwright()
    ckpt = fake_checkpoint("ccnet", tmp_path / "ccnet.ckpt")
    (page_file,) = explore(explore_cfg(ckpt, wide_scene(tmp_path / "wide.png"), tmp_path / "out"))
    data = read_page_data(page_file.read_text())
    image = data_url_pixels(data["image"]["png"]).astype(np.float64)
    lut = np.frombuffer(base64.b64decode(data["colormap"]), np.uint8).reshape(256, 3)
    maps = decode_maps(page_file.read_text())
    with _opened(sync_api, page_file) as (page, problems):
        canvases = page.locator("#panels canvas")
        assert canvases.count() == 1 + len(maps)  # the image, then one per map
        box = canvases.nth(1).bounding_box()
        shown = []
        for y, x in [(10, 8), (50, 300)]:  # the two ends of the wide scene, far apart
            page.mouse.click(*_screen(box, y, x))
            assert page.evaluate("document.body.dataset.query") == f"{y},{x}"
            shown.append(_canvas_pixels(page, canvases.count()))
            _check_against_reference(shown[-1][1:], maps, image, lut, (y, x))
        for label, first, second in zip(maps, shown[0][1:], shown[1][1:], strict=True):
            assert np.abs(first - second).mean() > 5, f"{label}: two far-apart queries look the same"
        page.mouse.move(*_screen(box, 30, 150))  # pinned: hovering does not move the query
        page.keyboard.press("Escape")  # ... until it is released
        page.mouse.move(*_screen(box, 32, 160))
        page.wait_for_function("document.body.dataset.query === '32,160'", timeout=5_000)
        page.check("#show-mask")  # the predicted mask under the picture
        overlay = data_url_pixels(data["overlay"]).astype(np.float64)
        assert np.abs(_canvas_pixels(page, 1)[0] - overlay)[_far_from((32, 160), (64, 320))].max() <= 1
    assert not problems, problems


def _screen(box: dict[str, float], y: int, x: int, shape: tuple[int, int] = (64, 320)) -> tuple[float, float]:
    """Where pixel (y, x) of a picture of ``shape`` lies on the screen, in a canvas at ``box``."""
    return box["x"] + (x + 0.5) * box["width"] / shape[1], box["y"] + (y + 0.5) * box["height"] / shape[0]


def _canvas_pixels(page, count: int) -> list[np.ndarray]:
    """The RGB pixels of the first ``count`` canvases of the page, as the browser drew them."""
    urls = page.evaluate(
        "(n) => [...document.querySelectorAll('#panels canvas')].slice(0, n).map(c => c.toDataURL('image/png'))",
        count,
    )
    return [data_url_pixels(url).astype(np.float64) for url in urls]  # PNG: lossless


def _far_from(point: tuple[int, int], shape: tuple[int, int], radius: int = 8) -> np.ndarray:
    """Pixels away from the ring the page draws around the query."""
    ys, xs = np.ogrid[: shape[0], : shape[1]]
    return (ys - point[0]) ** 2 + (xs - point[1]) ** 2 > radius**2


def _check_against_reference(drawn, maps, image, lut, point: tuple[int, int]) -> None:
    far = _far_from(point, image.shape[:2])
    for (label, (rows, _, (h, w))), pixels in zip(maps.items(), drawn, strict=True):
        q = min(point[0] * h // image.shape[0], h - 1) * w + min(point[1] * w // image.shape[1], w - 1)
        error = np.abs(pixels - reference(image, rows[q], (h, w), lut))[far]
        assert error.max() <= 2, (
            f"{label} at query {point}: the page draws another row (max error {error.max()})"
        )
