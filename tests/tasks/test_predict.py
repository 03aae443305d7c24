"""predict.py: mask and overlay files, sizes, palette, sliding window on large images, bad input."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig
from PIL import Image

from attnseg.inference.checkpoint import build_model, load_checkpoint, run_config
from attnseg.inference.modes import SegmentationInference
from attnseg.tasks.predict import predict
from attnseg.viz.masks import blend, colorize
from tests.checkpoints import train_tiny
from tests.conftest import ROOT, compose_config

PALETTE = [[0, 0, 0], [230, 159, 0], [0, 158, 115], [240, 228, 66], [213, 94, 0], [0, 114, 178]]


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory)


def predict_cfg(ckpt: Path, source: Path, output: Path, *overrides: str) -> DictConfig:
    overrides = (
        f"ckpt_path={ckpt}",
        f"input={source}",
        f"output={output}",
        "inference.crop_size=64",
        *overrides,
    )
    return compose_config(list(overrides), output, config_name="predict")


def write_image(path: Path, height: int, width: int, seed: int) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return np.asarray(Image.open(path).convert("RGB"))  # what a lossy format gives back


def test_folder_gets_palettised_masks_and_overlays(tiny_ckpt: Path, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    images = {
        "small": write_image(source / "small.png", 48, 56, 0),
        "large": write_image(source / "large.jpg", 100, 90, 1),
    }
    (source / "notes.txt").write_text("not an image: skipped")
    written = predict(predict_cfg(tiny_ckpt, source, tmp_path / "out"))
    names = sorted(p.name for p in written)
    assert names == ["large_mask.png", "large_overlay.png", "small_mask.png", "small_overlay.png"]

    checkpoint = load_checkpoint(tiny_ckpt)
    model = build_model(run_config(checkpoint), checkpoint, tiny_ckpt)
    for name, pixels in images.items():
        mask_file = Image.open(tmp_path / "out" / f"{name}_mask.png")
        overlay = Image.open(tmp_path / "out" / f"{name}_overlay.png")
        assert mask_file.mode == "P" and overlay.mode == "RGB"
        assert mask_file.size == overlay.size == (pixels.shape[1], pixels.shape[0])
        assert mask_file.getpalette()[:18] == [c for color in PALETTE for c in color]
        mask = np.asarray(mask_file)
        # the 100 x 90 image is larger than the 64 px window: it went through the sliding window
        x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
        expected = SegmentationInference(crop_size=64).predict(model, x)[0].numpy()
        np.testing.assert_array_equal(mask, expected)
        np.testing.assert_array_equal(np.asarray(overlay), blend(pixels, colorize(mask, PALETTE), 0.5))


def test_predict_py_on_one_file(tiny_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the root shim, run in-process with a command line (eval.py's test runs a real subprocess)
    write_image(tmp_path / "one.png", 64, 64, 2)
    argv = [
        "predict.py",
        f"ckpt_path={tiny_ckpt}",
        f"input={tmp_path / 'one.png'}",
        f"output={tmp_path / 'o'}",
    ]
    monkeypatch.setattr(sys, "argv", [*argv, f"hydra.run.dir={tmp_path / 'run'}", "alpha=1.0"])
    GlobalHydra.instance().clear()
    runpy.run_path(str(ROOT / "predict.py"), run_name="__main__")
    mask = np.asarray(Image.open(tmp_path / "o" / "one_mask.png"))
    overlay = np.asarray(Image.open(tmp_path / "o" / "one_overlay.png"))
    np.testing.assert_array_equal(overlay, colorize(mask, PALETTE))  # alpha=1: pure class colours
    assert (tmp_path / "run" / ".hydra" / "config.yaml").is_file()


def test_unreadable_image_is_named(tiny_ckpt: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG but not really")
    with pytest.raises(
        ValueError, match=r"input: cannot read '.*broken\.png' as an image .*expected an image file"
    ):
        predict(predict_cfg(tiny_ckpt, bad, tmp_path / "out"))


def test_missing_input_and_empty_folder_are_named(tiny_ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"input: no such file or folder '.*nothing_here'"):
        predict(predict_cfg(tiny_ckpt, tmp_path / "nothing_here", tmp_path / "out"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"input: folder '.*empty' has no images"):
        predict(predict_cfg(tiny_ckpt, tmp_path / "empty", tmp_path / "out"))


def test_missing_checkpoint_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"ckpt_path: no such file '.*gone\.ckpt'"):
        predict(predict_cfg(tmp_path / "gone.ckpt", tmp_path, tmp_path / "out"))
