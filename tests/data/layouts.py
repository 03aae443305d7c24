"""Miniature dataset trees of real PNG/JPEG files, in each supported layout, for the data tests.

Every image is ``H`` x ``W`` with one label per quadrant (:func:`quadrants`), and its colour is a
function of the label (:func:`colour_image`), so image/mask alignment can be checked after any
augmentation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from attnseg.data.voc import voc_colormap

H, W = 40, 48
# Cityscapes label ids of the four quadrants and the train ids they must become
LABEL_IDS = (7, 26, 0, 33)  # road, car, unlabeled, bicycle
TRAIN_IDS = (0, 13, 255, 18)


def quadrants(values: tuple[int, int, int, int], dtype=np.uint8) -> np.ndarray:
    """An H x W array with one value per quadrant (top-left, top-right, bottom-left, bottom-right)."""
    out = np.empty((H, W), dtype)
    out[: H // 2, : W // 2], out[: H // 2, W // 2 :] = values[0], values[1]
    out[H // 2 :, : W // 2], out[H // 2 :, W // 2 :] = values[2], values[3]
    return out


def colour_image(labels: np.ndarray) -> np.ndarray:
    """An RGB image whose colour is a function of the label: alignment can be checked after augmentation."""
    colors = np.array(voc_colormap(256), np.uint8)
    return colors[(labels.astype(np.int64) * 37 + 1) % 256]


def save(path: Path, array: np.ndarray, palette: list[int] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array)
    if palette is not None:
        image.putpalette(palette)  # an "L" image becomes "P": the values stay, as palette indices
    image.save(path, **({"quality": 95} if path.suffix == ".jpg" else {}))
    return path


def make_cityscapes(root: Path, frames: dict[str, int] | None = None) -> Path:
    """leftImg8bit/ + gtFine/ with ``frames[split]`` frames split over two cities."""
    for split, count in (frames or {"train": 3, "val": 2}).items():
        for i in range(count):
            city = ("aachen", "bochum")[i % 2]
            frame = f"{city}_{i:06d}_000019"
            mask = quadrants(LABEL_IDS)
            save(root / "leftImg8bit" / split / city / f"{frame}_leftImg8bit.png", colour_image(mask))
            save(root / "gtFine" / split / city / f"{frame}_gtFine_labelIds.png", mask)
            save(root / "gtFine" / split / city / f"{frame}_gtFine_color.png", colour_image(mask))
    return root


def make_voc(root: Path, ids: dict[str, list[str]] | None = None) -> Path:
    """VOCdevkit/VOC2012 with palette-mode masks holding 0, 15 (person) and the 255 border."""
    voc = root / "VOCdevkit" / "VOC2012"
    ids = ids or {
        "train": ["2007_000032", "2007_000039", "2007_000063"],
        "val": ["2007_000033", "2007_000042"],
    }
    flat = [v for color in voc_colormap(256) for v in color]
    for split, names in ids.items():
        (voc / "ImageSets" / "Segmentation").mkdir(parents=True, exist_ok=True)
        (voc / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(names) + "\n")
        for name in names:
            mask = quadrants((0, 15, 255, 15))
            save(voc / "JPEGImages" / f"{name}.jpg", colour_image(mask))
            save(voc / "SegmentationClass" / f"{name}.png", mask, palette=flat)
    return root


def make_ade20k(root: Path, counts: dict[str, int] | None = None) -> Path:
    ade = root / "ADEChallengeData2016"
    for split, count in (counts or {"training": 3, "validation": 2}).items():
        for i in range(count):
            name = f"ADE_{split[:5]}_{i:08d}"
            mask = quadrants((0, 1, 150, 13))
            save(ade / "images" / split / f"{name}.jpg", colour_image(mask))
            save(ade / "annotations" / split / f"{name}.png", mask)
    return root


def make_folder(root: Path, masks: str = "index", counts: dict[str, int] | None = None) -> Path:
    """images/<split>/ + masks/<split>/; index masks hold 0, 1, 2 and 255; rgb masks their colours."""
    for split, count in (counts or {"train": 3, "val": 2}).items():
        for i in range(count):
            labels = quadrants((0, 1, 2, 255))
            save(root / "images" / split / f"img_{i}.jpg", colour_image(labels))
            mask = colour_image(labels) if masks == "rgb" else labels
            save(root / "masks" / split / f"img_{i}.png", mask)
    return root


FOLDER_RGB = {
    "num_classes": 3,
    "mask_format": "rgb",
    "ignore_color": colour_image(np.array([255]))[0].tolist(),
}
FOLDER_RGB["palette"] = colour_image(np.arange(3)).tolist()
