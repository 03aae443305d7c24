"""Mask faults found at construction: a lossy file whatever its name, a value that is not a class."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from PIL import Image

from attnseg.data import FolderSegmentation
from tests.data.layouts import FOLDER_RGB, H, W, colour_image, make_folder, quadrants, save
from tests.data.test_dataset_errors import FOLDER_CLASSES, LAYOUTS, NAMES, VOC_FLAT, write_mask


def encode(array: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("name", NAMES)
def test_jpeg_bytes_under_a_png_name_are_refused(tmp_path: Path, name: str) -> None:
    layout = LAYOUTS[name]
    mask = layout.build(tmp_path) / layout.mask
    mask.write_bytes(encode(np.zeros((H, W), np.uint8), format="JPEG", quality=90))
    assert mask.suffix == ".png" and Image.open(mask).mode == "L"  # passes the mode check
    message = f"{mask}: the mask file is really a JPEG file (read from its header, whatever its name)"
    with pytest.raises(ValueError, match=re.escape(message) + r".*lossy.*Expected a lossless PNG, BMP"):
        layout.open(tmp_path)


@pytest.mark.parametrize(
    ("file", "options", "real"),
    [
        ("img_0.tif", {"format": "TIFF", "compression": "jpeg"}, "TIFF with JPEG compression"),
        ("img_0.png", {"format": "WEBP", "quality": 90}, "lossy WebP"),
    ],
)
def test_lossy_tiff_and_webp_masks_are_refused(tmp_path: Path, file: str, options: dict, real: str) -> None:
    root = make_folder(tmp_path, "rgb")
    (root / "masks/train/img_0.png").unlink()
    mask = root / "masks/train" / file
    mask.write_bytes(encode(colour_image(quadrants((0, 1, 2, 255))), **options))
    with pytest.raises(ValueError, match=re.escape(f"{mask}: the mask file is really a {real} file")):
        FolderSegmentation(root, "train", **FOLDER_RGB)


def test_lossless_webp_and_tiff_masks_are_accepted(tmp_path: Path) -> None:
    root = make_folder(tmp_path, "rgb")
    colours = colour_image(quadrants((0, 1, 2, 255)))
    (root / "masks/train/img_0.png").write_bytes(encode(colours, format="WEBP", lossless=True))
    (root / "masks/train/img_1.png").unlink()
    (root / "masks/train/img_1.tif").write_bytes(encode(colours, format="TIFF", compression="tiff_lzw"))
    dataset = FolderSegmentation(root, "train", **FOLDER_RGB)
    assert np.array_equal(dataset[0][1].numpy(), quadrants((0, 1, 2, 255)))


# ---- mask values: a bounded scan at construction, a full one on request ----


def folder_with_bad_mask(root: Path, bad: int, count: int = 8) -> Path:
    """A folder train split of ``count`` samples whose mask number ``bad`` holds the value 7."""
    make_folder(root, counts={"train": count, "val": 2})
    return save(root / f"masks/train/img_{bad}.png", quadrants((0, 1, 7, 255)))


@pytest.mark.parametrize("name", NAMES)
def test_out_of_range_value_is_refused_at_construction(tmp_path: Path, name: str) -> None:
    layout = LAYOUTS[name]
    mask = write_mask(layout, layout.build(tmp_path), np.full((H, W), layout.bad_value))
    message = f"{mask}: mask value(s) [{layout.bad_value}] are neither a class nor the ignore index"
    with pytest.raises(ValueError, match=re.escape(message)):
        layout.open(tmp_path)


def test_bounded_scan_spreads_over_the_split_and_full_scan_reads_every_mask(tmp_path: Path) -> None:
    mask = folder_with_bad_mask(tmp_path, bad=3)
    # 2 masks spread over 8 samples: the first and the last; the bad one is read only with its sample
    dataset = FolderSegmentation(tmp_path, "train", num_classes=3, scan_masks=2)
    with pytest.raises(ValueError, match=re.escape(f"{mask}: mask value(s) [7] are neither a class")):
        dataset[3]
    with pytest.raises(ValueError, match=re.escape(f"{mask}: mask value(s) [7] are neither a class")):
        FolderSegmentation(tmp_path, "train", num_classes=3, scan_masks=None)
    folder_with_bad_mask(tmp_path, bad=7)  # the last mask: inside the bounded scan
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path}/masks/train/img_7.png: mask value(s) [7]")):
        FolderSegmentation(tmp_path, "train", num_classes=3, scan_masks=2)
    assert len(FolderSegmentation(tmp_path, "train", num_classes=3, scan_masks=0)) == 8  # 0: no scan


@pytest.mark.parametrize("scan_masks", [-1, 2.5, True, "all"])
def test_scan_masks_must_be_a_count_or_null(tmp_path: Path, scan_masks: object) -> None:
    make_folder(tmp_path)
    with pytest.raises(ValueError, match=r"folder train: scan_masks must be a number of masks >= 0"):
        FolderSegmentation(tmp_path, "train", num_classes=3, scan_masks=scan_masks)


@pytest.mark.parametrize("name", NAMES)
def test_scan_masks_key_of_each_config_reaches_the_check(make_cfg, tmp_path: Path, name: str) -> None:
    layout = LAYOUTS[name]
    root = layout.build(tmp_path / "data")
    last = layout.open(root).pairs[-1][1]  # 3 train samples: a scan of 1 reads only the first
    save(last, np.full((H, W), layout.bad_value, np.uint8), palette=VOC_FLAT if name == "voc" else None)
    cfg = make_cfg(
        f"dataset={name}", f"dataset.root={root}", *(FOLDER_CLASSES if name == "folder" else []), tiny=False
    )
    assert [cfg.dataset[split].scan_masks for split in ("train", "val", "test")] == [64, 64, 64]
    cfg.dataset.train.scan_masks = 1
    assert len(instantiate(cfg.dataset.train)) == 3
    cfg.dataset.train.scan_masks = None  # the full scan
    with pytest.raises(
        InstantiationException, match=re.escape(f"{last}: mask value(s) [{layout.bad_value}]")
    ):
        instantiate(cfg.dataset.train)
