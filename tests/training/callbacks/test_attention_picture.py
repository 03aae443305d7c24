"""The end-of-run attention picture: written next to the checkpoints, logged, its path printed; queries
the crates; none for a model without attention."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.errors import InstantiationException
from PIL import Image

from attnseg.tasks.train import train
from attnseg.training.callbacks.attention_picture import _shrink, query_pixel


def test_a_ccnet_run_ends_with_its_attention_picture(make_cfg, tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.INFO):
        train(make_cfg("head=ccnet", "logger=wandb", "callbacks.attention_picture.num_images=2"))
    picture = tmp_path / "attention.png"
    assert (tmp_path / "checkpoints").is_dir() and picture.is_file()
    # 2 images, one query row each: the query, CCNet after one pass and after both (64 px -> 256 px panels)
    width, height = Image.open(picture).size
    assert 3 * 256 < width < 4 * 256 and 2 * 256 < height < 3 * 256
    assert f"Attention picture (where the ringed pixels attend): {picture}" in caplog.text
    (run,) = (tmp_path / "wandb").glob("offline-run-*")
    logged = sorted((run / "files" / "media" / "images" / "attention").glob("final_*.png"))
    written = np.asarray(Image.open(picture).convert("RGB"))
    assert any(np.array_equal(np.asarray(Image.open(p).convert("RGB")), written) for p in logged)


def test_a_model_without_attention_gets_no_picture(make_cfg, tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.INFO):
        train(make_cfg("head=fcn", "logger=csv"))
    assert not (tmp_path / "attention.png").exists() and "Attention picture" not in caplog.text


def test_query_pixel_is_a_crate_pixel_near_the_crates_centre() -> None:
    mask = torch.zeros(40, 60, dtype=torch.long)
    mask[5:15, 40:50] = 4  # one crate
    mask[20:30, 10:14] = 2  # a distractor
    y, x = query_pixel(mask, [4, 5])
    assert mask[y, x] == 4 and abs(y - 9.5) <= 1 and abs(x - 44.5) <= 1
    assert query_pixel(mask, [5]) == (20, 30)  # none of those classes: the centre
    # two crates: a pixel of one of them, never the empty space between them
    mask[25:35, 40:50] = 5
    y, x = query_pixel(mask, [4, 5])
    assert mask[y, x] in (4, 5)


def test_unknown_query_class_is_refused_before_training(make_cfg) -> None:
    with pytest.raises(
        InstantiationException,
        match=r"dataset\.query_classes: \['crate_green'\] are not in dataset\.class_names",
    ):
        train(make_cfg("logger=none", "dataset.query_classes=[crate_green]"))


def test_large_images_are_shrunk_before_the_maps_are_computed() -> None:
    # dense (HW) x (HW) maps of a 1024 x 2048 Cityscapes image would take gigabytes
    image, mask = torch.rand(3, 1024, 2048), torch.zeros(1024, 2048, dtype=torch.long)
    mask[:, 1024:] = 4
    small_image, small_mask = _shrink(image, mask, 512)
    assert small_image.shape == (3, 256, 512) and small_mask.shape == (256, 512)
    assert set(small_mask.unique().tolist()) == {0, 4} and small_mask.dtype == torch.long
    assert _shrink(image[:, :64, :320], mask[:64, :320], 512)[0].shape == (3, 64, 320)  # small: kept


@pytest.mark.slow  # a third full training run: make test-slow
def test_a_failure_to_draw_is_a_warning_not_a_failed_run(
    make_cfg, tmp_path: Path, caplog, monkeypatch
) -> None:
    import attnseg.training.callbacks.attention_picture as picture_module

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(picture_module, "capture_attention", broken)
    with caplog.at_level(logging.WARNING):
        metrics = train(make_cfg("head=ccnet", "logger=none"))
    assert "test/miou" in metrics and not (tmp_path / "attention.png").exists()
    assert "attention picture not drawn: RuntimeError: out of memory" in caplog.text
