"""Bad input on disk fails with an error naming the file and what was expected; never a silent drop."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hydra.errors import InstantiationException

from attnseg.data import ADE20K, Cityscapes, FolderSegmentation, PascalVOC
from attnseg.data.files import SegmentationFiles
from attnseg.data.voc import voc_colormap
from attnseg.tasks.train import train
from tests.data.layouts import FOLDER_RGB, H, W, make_ade20k, make_cityscapes, make_folder, make_voc, save


@dataclass
class Layout:
    build: Callable[[Path], Path]
    open: Callable[..., SegmentationFiles]  # (root, **options of the dataset class)
    image: str  # first sample of the train split, relative to the root
    mask: str
    bad_value: int  # a raw mask value that is neither a class nor ignored
    empty: Callable[[Path], None]  # empties the train split


def _unlink_all(*folders: str) -> Callable[[Path], None]:
    def empty(root: Path) -> None:
        for folder in folders:
            for path in (root / folder).rglob("*.*"):
                path.unlink()

    return empty


VOC_FLAT = [v for color in voc_colormap(256) for v in color]
LAYOUTS = {
    "cityscapes": Layout(
        make_cityscapes,
        lambda root, **options: Cityscapes(root, "train", **options),
        "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png",
        "gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png",
        34,
        _unlink_all("leftImg8bit/train", "gtFine/train"),
    ),
    "voc": Layout(
        make_voc,
        lambda root, **options: PascalVOC(root, "train", **options),
        "VOCdevkit/VOC2012/JPEGImages/2007_000032.jpg",
        "VOCdevkit/VOC2012/SegmentationClass/2007_000032.png",
        21,
        lambda root: (root / "VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt").write_text("\n"),
    ),
    "ade20k": Layout(
        make_ade20k,
        lambda root, **options: ADE20K(root, "training", **options),
        "ADEChallengeData2016/images/training/ADE_train_00000000.jpg",
        "ADEChallengeData2016/annotations/training/ADE_train_00000000.png",
        151,
        _unlink_all("ADEChallengeData2016/images/training", "ADEChallengeData2016/annotations/training"),
    ),
    "folder": Layout(
        make_folder,
        lambda root, **options: FolderSegmentation(root, "train", num_classes=3, **options),
        "images/train/img_0.jpg",
        "masks/train/img_0.png",
        3,
        _unlink_all("images/train", "masks/train"),
    ),
}
NAMES = list(LAYOUTS)
# the config overrides of the folder tree's classes (its index masks hold 0..2 and 255)
FOLDER_CLASSES = [
    "dataset.num_classes=3",
    "dataset.class_names=[a,b,c]",
    "dataset.palette=[[0,0,0],[1,1,1],[2,2,2]]",
]


def write_mask(layout: Layout, root: Path, values: np.ndarray) -> Path:
    """Overwrite the first mask, keeping its format (VOC: palette PNG)."""
    return save(
        root / layout.mask, values.astype(np.uint8), palette=VOC_FLAT if "VOC" in layout.mask else None
    )


@pytest.mark.parametrize(
    ("name", "expected", "how_to_get"),
    [
        ("cityscapes", "leftImg8bit/train/", "cityscapes-dataset.com"),
        ("voc", "VOCdevkit/VOC2012/JPEGImages/", "VOCtrainval_11-May-2012.tar"),
        ("ade20k", "ADEChallengeData2016/annotations/training/", "ADEChallengeData2016.zip"),
        ("folder", "masks/train/", "Put your images in"),
    ],
)
def test_missing_root_lists_the_expected_layout(
    tmp_path: Path, name: str, expected: str, how_to_get: str
) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=rf"dataset.root={root} does not exist") as err:
        LAYOUTS[name].open(root)
    assert f"{root / expected}" in str(err.value) and how_to_get in str(err.value)


def test_wrong_layout_says_which_folders_are_missing(tmp_path: Path) -> None:
    (tmp_path / "leftImg8bit" / "train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"lacks gtFine/train\. Expected") as err:
        Cityscapes(tmp_path, "train")
    assert f"{tmp_path}/gtFine/train/   <- missing" in str(err.value)


@pytest.mark.parametrize("name", NAMES)
def test_image_without_mask(tmp_path: Path, name: str) -> None:
    layout = LAYOUTS[name]
    (layout.build(tmp_path) / layout.mask).unlink()
    with pytest.raises(
        FileNotFoundError, match=rf"1 image file\(s\) have no mask: {re.escape(str(tmp_path / layout.image))}"
    ):
        layout.open(tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_mask_without_image(tmp_path: Path, name: str) -> None:
    layout = LAYOUTS[name]
    (layout.build(tmp_path) / layout.image).unlink()
    with pytest.raises(
        FileNotFoundError, match=rf"1 mask file\(s\) have no image: {re.escape(str(tmp_path / layout.mask))}"
    ):
        layout.open(tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_image_and_mask_of_different_sizes(tmp_path: Path, name: str) -> None:
    layout = LAYOUTS[name]
    write_mask(layout, layout.build(tmp_path), np.zeros((H, H)))
    message = f"image and mask differ in size: {tmp_path / layout.image} is {W}x{H} but {tmp_path / layout.mask} is {H}x{H}"
    with pytest.raises(ValueError, match=re.escape(message)):
        layout.open(tmp_path)


@pytest.mark.parametrize("name", NAMES)
def test_mask_value_neither_class_nor_ignore(tmp_path: Path, name: str) -> None:
    layout = LAYOUTS[name]
    root = layout.build(tmp_path)
    write_mask(layout, root, np.full((H, W), layout.bad_value))
    # with no scan at start (test_mask_checks.py), each sample still checks its values when read
    dataset = layout.open(root, scan_masks=0)
    dataset[1]
    message = (
        f"{root / layout.mask}: mask value(s) [{layout.bad_value}] are neither a class nor the ignore index"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        dataset[0]


@pytest.mark.parametrize("name", NAMES)
def test_empty_split(tmp_path: Path, name: str) -> None:
    layout = LAYOUTS[name]
    layout.empty(layout.build(tmp_path))
    with pytest.raises(ValueError, match=r"the split is empty"):
        layout.open(tmp_path)


def test_unreadable_image_fails_at_construction(tmp_path: Path) -> None:
    image = make_folder(tmp_path) / "images/train/img_1.jpg"
    image.write_bytes(b"not an image at all")
    with pytest.raises(
        ValueError, match=rf"cannot read {re.escape(str(image))}: .*Expected a readable image"
    ):
        FolderSegmentation(tmp_path, "train", num_classes=3)


@pytest.mark.parametrize("name", ["cityscapes", "ade20k"])  # a PNG and a JPEG
def test_truncated_image_fails_when_read(tmp_path: Path, name: str) -> None:
    layout = LAYOUTS[name]
    image = layout.build(tmp_path) / layout.image
    image.write_bytes(image.read_bytes()[: image.stat().st_size * 3 // 4])  # pixels cut, header kept
    dataset = layout.open(tmp_path)  # the header is intact
    with pytest.raises(ValueError, match=rf"cannot decode {re.escape(str(image))}: .*corrupt or truncated"):
        dataset[0]


def test_folder_mask_format_mismatch(tmp_path: Path) -> None:
    make_folder(tmp_path, "rgb")
    with pytest.raises(ValueError, match=r"img_0.png: mask has PIL mode 'RGB', expected one of \['L', 'P'\]"):
        FolderSegmentation(tmp_path, "train", num_classes=3)


def test_folder_unknown_colour(tmp_path: Path) -> None:
    mask = make_folder(tmp_path, "rgb") / "masks/train/img_2.png"
    save(mask, np.full((H, W, 3), (1, 2, 3), np.uint8))
    message = rf"{re.escape(str(mask))}: colour\(s\) \[\[1, 2, 3\]\] are not in dataset.palette"
    with pytest.raises(ValueError, match=message):  # found by the mask scan at construction
        FolderSegmentation(tmp_path, "train", **FOLDER_RGB)
    dataset = FolderSegmentation(tmp_path, "train", **FOLDER_RGB, scan_masks=0)
    with pytest.raises(ValueError, match=message):  # and by the sample itself when read
        dataset[2]


def test_folder_rejects_lossy_masks_and_ambiguous_names(tmp_path: Path) -> None:
    make_folder(tmp_path)
    (tmp_path / "masks/train/img_0.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"masks/train/img_0.jpg: unexpected file .* expected one of .png"):
        FolderSegmentation(tmp_path, "train", num_classes=3)
    (tmp_path / "masks/train/img_0.jpg").unlink()
    save(tmp_path / "images/train/img_0.png", np.zeros((H, W, 3), np.uint8))
    with pytest.raises(ValueError, match=r"share the name 'img_0': pairing would be ambiguous"):
        FolderSegmentation(tmp_path, "train", num_classes=3)


def test_voc_listed_id_without_files(tmp_path: Path) -> None:
    lists = make_voc(tmp_path) / "VOCdevkit/VOC2012/ImageSets/Segmentation"
    (lists / "val.txt").write_text("2007_000033\n2099_999999\n")
    with pytest.raises(
        FileNotFoundError, match=r"1 id\(s\) listed in .*val.txt have neither an image .*2099_999999"
    ):
        PascalVOC(tmp_path, "val")


def test_bad_root_fails_before_training(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("dataset=folder", f"dataset.root={tmp_path / 'missing'}", "logger=csv", tiny=False)
    with pytest.raises(InstantiationException, match=r"folder: dataset.root=.*missing does not exist"):
        train(cfg)
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "csv").exists()


def test_out_of_range_mask_fails_before_training(make_cfg, tmp_path: Path) -> None:
    root = make_folder(tmp_path / "data", counts={"train": 8, "val": 4})
    mask = save(root / "masks/train/img_5.png", np.full((H, W), 7, np.uint8))
    cfg = make_cfg("dataset=folder", f"dataset.root={root}", *FOLDER_CLASSES, "logger=csv")
    message = f"{mask}: mask value(s) [7] are neither a class nor the ignore index"
    with pytest.raises(InstantiationException, match=re.escape(message)):
        train(cfg)
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "csv").exists()


def test_train_split_smaller_than_a_batch_fails_before_training(make_cfg, tmp_path: Path) -> None:
    root = make_cityscapes(tmp_path / "data", {"train": 4, "val": 2})
    cfg = make_cfg(
        "dataset=cityscapes", f"dataset.root={root}", "dataset.batch_size=8", "logger=csv", tiny=False
    )
    with pytest.raises(
        InstantiationException, match=r"dataset.batch_size=8 .* the train split has 4 samples"
    ):
        train(cfg)
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "csv").exists()
