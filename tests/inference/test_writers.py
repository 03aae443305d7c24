"""Writers: the default files byte for byte as before, the submission PNGs' ids and names, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import open_dict
from PIL import Image

from attnseg.data.cityscapes import LABEL_ID_LUT, LABEL_IDS, TRAIN_IDS
from attnseg.inference.writers import IdPNG, MaskAndOverlay, ade20k_submission, cityscapes_submission
from attnseg.viz.masks import blend, colorize, mask_image
from tests.conftest import CONF, compose_config

PALETTE = [[0, 0, 0], [230, 159, 0], [0, 158, 115], [240, 228, 66], [213, 94, 0], [0, 114, 178]]
CITYSCAPES_NAME = "berlin_000123_000019_leftImg8bit"
# the classes each writer option is built for; the default one takes any
OPTIONS = {"default": 6, "cityscapes": 19, "ade20k": 150}


def image_and_mask(num_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
    mask = np.arange(12 * 20).reshape(12, 20) % num_classes  # every class, in every row
    return image, mask.astype(np.uint8)


def test_default_writer_is_byte_identical_to_the_former_predict(tmp_path: Path) -> None:
    image, mask = image_and_mask(6)
    writer = MaskAndOverlay(PALETTE, alpha=0.3)
    writer.prepare([Path("in/photo.jpg")], tmp_path / "new")
    written = writer.write(tmp_path / "new", Path("in/photo.jpg"), image, mask)
    assert written == [tmp_path / "new" / "photo_mask.png", tmp_path / "new" / "photo_overlay.png"]
    # what predict.py wrote before writers existed (git 8d1f396), line for line
    palette, old = [tuple(c) for c in PALETTE], tmp_path / "old"
    old.mkdir()
    mask_image(mask, palette).save(old / "photo_mask.png")
    Image.fromarray(blend(image, colorize(mask, palette), 0.3)).save(old / "photo_overlay.png")
    for name in ("photo_mask.png", "photo_overlay.png"):
        assert (tmp_path / "new" / name).read_bytes() == (old / name).read_bytes()


def test_cityscapes_label_ids_are_the_inverse_of_the_loaders_table() -> None:
    assert sorted(LABEL_IDS) == list(range(19))
    for train_id, label_id in LABEL_IDS.items():
        assert TRAIN_IDS[label_id] == train_id and LABEL_ID_LUT[label_id] == train_id


def test_cityscapes_writes_label_ids_named_after_the_image(tmp_path: Path) -> None:
    image, mask = image_and_mask(19)
    source = Path("leftImg8bit/test/berlin") / f"{CITYSCAPES_NAME}.png"
    writer = cityscapes_submission(num_classes=19)
    writer.prepare([source], tmp_path / "sub")
    assert writer.write(tmp_path / "sub", source, image, mask) == [
        tmp_path / "sub" / f"{CITYSCAPES_NAME}.png"
    ]
    with Image.open(tmp_path / "sub" / f"{CITYSCAPES_NAME}.png") as png:
        assert png.mode == "L" and png.size == (20, 12)
        written = np.asarray(png)
    expected = np.vectorize(LABEL_IDS.get)(mask)
    np.testing.assert_array_equal(written, expected)
    assert set(np.unique(written)) == set(TRAIN_IDS)  # the 19 evaluated label ids, no train id left
    np.testing.assert_array_equal(LABEL_ID_LUT[written], mask)  # the loader reads them back


def test_ade20k_writes_class_plus_one_named_after_the_image(tmp_path: Path) -> None:
    image, mask = image_and_mask(150)
    source = Path("release_test/testing/ADE_test_00000001.jpg")
    writer = ade20k_submission(num_classes=150)
    writer.prepare([source], tmp_path / "sub")
    (path,) = writer.write(tmp_path / "sub", source, image, mask)
    assert path == tmp_path / "sub" / "ADE_test_00000001.png"
    with Image.open(path) as png:
        assert png.mode == "L"
        np.testing.assert_array_equal(np.asarray(png), mask.astype(np.int64) + 1)


@pytest.mark.parametrize("option", ["cityscapes", "ade20k"])
def test_submission_writer_refuses_a_model_of_other_classes(option: str) -> None:
    build = {"cityscapes": cityscapes_submission, "ade20k": ade20k_submission}[option]
    with pytest.raises(
        ValueError,
        match=rf"writer={option}: the checkpoint predicts 6 classes.*expected a model trained on {option}",
    ):
        build(num_classes=6)


def test_cityscapes_refuses_names_the_server_cannot_pair(tmp_path: Path) -> None:
    writer = cityscapes_submission(num_classes=19)
    with pytest.raises(ValueError, match=r"writer=cityscapes: the image '.*photo\.png' is not named"):
        writer.prepare([Path(f"{CITYSCAPES_NAME}.png"), Path("photo.png")], tmp_path / "sub")
    assert not (tmp_path / "sub").exists()  # refused before anything was written


def test_two_images_of_one_frame_are_refused(tmp_path: Path) -> None:
    # the evaluator finds a frame's prediction by <city>_<seq>_<frame>: a second one is an error there
    frames = [Path(f"a/{CITYSCAPES_NAME}.png"), Path("b/berlin_000123_000019_leftImg8bit_copy.jpg")]
    with pytest.raises(
        ValueError,
        match=r"input: 'a/berlin.*' and 'b/berlin.*' both map to the output 'berlin_000123_000019'",
    ):
        cityscapes_submission(num_classes=19).prepare(frames, tmp_path / "sub")
    with pytest.raises(
        ValueError, match=r"input: 'a/x\.png' and 'b/x\.jpg' both map to the output 'x_mask\.png'"
    ):
        MaskAndOverlay(PALETTE).prepare([Path("a/x.png"), Path("b/x.jpg")], tmp_path / "out")


def test_submission_folder_must_be_new_or_empty(tmp_path: Path) -> None:
    writer = ade20k_submission(num_classes=150)
    (tmp_path / "empty").mkdir()
    writer.prepare([Path("a.jpg")], tmp_path / "empty")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "predict.log").write_text("")
    with pytest.raises(FileExistsError, match=r"output: '.*used' already holds predict\.log; writer=ade20k"):
        writer.prepare([Path("a.jpg")], tmp_path / "used")


def test_a_class_id_the_model_cannot_predict_is_refused(tmp_path: Path) -> None:
    writer: IdPNG = cityscapes_submission(num_classes=19)
    image, _ = image_and_mask(19)
    with pytest.raises(ValueError, match=r"writer=cityscapes: .* was predicted a class id >= 19"):
        writer.write(tmp_path, Path(f"{CITYSCAPES_NAME}.png"), image, np.full((12, 20), 19, np.uint8))


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF / "writer").glob("*.yaml")))
def test_every_writer_option_builds_from_its_config(option: str, tmp_path: Path) -> None:
    assert sorted(OPTIONS) == sorted(p.stem for p in (CONF / "writer").glob("*.yaml"))
    cfg = compose_config(
        ["ckpt_path=x.ckpt", "input=in", f"writer={option}"], tmp_path, config_name="predict"
    )
    # what the checkpoint's config brings (the merge in predict)
    trained = {"model": {"num_classes": OPTIONS[option]}, "dataset": {"palette": PALETTE}}
    with open_dict(cfg):
        cfg.merge_with(trained)
    writer = instantiate(cfg.writer)
    assert callable(writer.prepare) and callable(writer.write)
    image, mask = image_and_mask(OPTIONS[option])
    name = f"{CITYSCAPES_NAME}.png"
    writer.prepare([Path(name)], Path(cfg.output))
    written = writer.write(Path(cfg.output), Path(name), image, mask)
    expected = {"default": 2, "cityscapes": 1, "ade20k": 1}[option]
    assert len(written) == expected and all(p.is_file() for p in written)
    # the submission formats get a folder of their own under the run directory
    assert Path(cfg.output) == (tmp_path if option == "default" else tmp_path / "submission")
