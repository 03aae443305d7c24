"""Cityscapes fine annotations, read from the official layout with no preprocessing step.

Cordts et al., "The Cityscapes Dataset for Semantic Urban Scene Understanding", CVPR 2016.
https://arxiv.org/abs/1604.01685

The ``*_gtFine_labelIds.png`` masks hold the 34 label ids; the loader maps them to the 19
evaluated train ids (everything else becomes the ignore index 255), the table of the official
``cityscapesscripts/helpers/labels.py``. A ``*_gtFine_labelTrainIds.png`` next to a labelIds
file (written by ``cityscapesscripts``' ``createTrainIdLabelImgs``) is used as it is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attnseg.data.files import SCAN_MASKS, SegmentationFiles, identity_lut, label_lut, load, map_labels
from attnseg.data.listing import list_files, pair_files, require_layout
from attnseg.data.transforms import Transform

IGNORE = 255
# label id -> train id of the 19 evaluated classes; the other ids 0..33 are ignored
TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10}
TRAIN_IDS |= {24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
LABEL_ID_LUT = label_lut({label_id: TRAIN_IDS.get(label_id, IGNORE) for label_id in range(34)})
# train id -> label id: what the benchmark's evaluator and test server read back (the inverse)
LABEL_IDS = {train_id: label_id for label_id, train_id in TRAIN_IDS.items()}
TRAIN_ID_LUT = identity_lut(19, IGNORE)
SPLITS = ("train", "val", "test")
IMAGE_SUFFIX, LABEL_IDS_SUFFIX = "_leftImg8bit.png", "_gtFine_labelIds.png"
TRAIN_IDS_SUFFIX = "_gtFine_labelTrainIds.png"
HOW_TO_GET = (
    "Download leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from "
    "https://www.cityscapes-dataset.com/downloads/ (free account), unzip both into one folder "
    "and pass it as dataset.root=<folder>."
)


class Cityscapes(SegmentationFiles):
    """One split of Cityscapes (19 classes, ignore index 255).

    Args:
        root: folder holding ``leftImg8bit/`` and ``gtFine/``.
        split: ``train``, ``val`` or ``test`` (the test split's labels are withheld by the benchmark).
        image_size: shorter side images are resized to on load; ``None`` keeps 1024x2048.
        num_samples: only the first ``num_samples`` images (sorted by name); ``None``: all.
        transforms: joint image/mask transforms (torchvision ``transforms.v2``).
        scan_masks: masks decoded at construction, spread over the split, to find a value that is
            neither a class nor ignored before training; ``None``: every mask; 0: none.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        image_size: int | None = None,
        num_samples: int | None = None,
        transforms: Transform | None = None,
        scan_masks: int | None = SCAN_MASKS,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"Cityscapes: split must be one of {SPLITS}, got {split!r}")
        root = require_layout(root, "Cityscapes", [f"leftImg8bit/{split}", f"gtFine/{split}"], HOW_TO_GET)
        image_dir, mask_dir = root / "leftImg8bit" / split, root / "gtFine" / split
        images = _by_frame(image_dir, IMAGE_SUFFIX)
        # a frame with both files uses its labelTrainIds (the right operand of | wins)
        masks = _by_frame(mask_dir, LABEL_IDS_SUFFIX) | _by_frame(mask_dir, TRAIN_IDS_SUFFIX)
        if not images:
            raise ValueError(
                f"Cityscapes: no <city>/*{IMAGE_SUFFIX} files in {image_dir}: the split is empty"
            )
        where = f"Cityscapes {split} ({image_dir}/<city>/*{IMAGE_SUFFIX} vs {mask_dir}/<city>/*{LABEL_IDS_SUFFIX})"
        pairs = pair_files(images, masks, where)
        super().__init__(
            pairs,
            lut=LABEL_ID_LUT,
            image_size=image_size,
            num_samples=num_samples,
            transforms=transforms,
            scan_masks=scan_masks,
            name=f"Cityscapes {split}",
        )

    def read_mask(self, path: Path) -> np.ndarray:
        lut = TRAIN_ID_LUT if path.name.endswith(TRAIN_IDS_SUFFIX) else LABEL_ID_LUT
        return map_labels(load(path), lut, path, self.name)


def _by_frame(folder: Path, suffix: str) -> dict[str, Path]:
    """``{"<city>/<city>_<seq>_<frame>": path}`` of the files ending in ``suffix`` (cities may be symlinks)."""
    found = (p for p in list_files(folder, depth=1) if p.name.endswith(suffix))
    return {f"{p.parent.name}/{p.name[: -len(suffix)]}": p for p in found}
