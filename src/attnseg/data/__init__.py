"""Data: the datasets (synthetic scenes, Cityscapes, ADE20K, Pascal VOC, any folder), their joint
image/mask transforms, and the datamodule.

Each name is imported on first use (:mod:`attnseg.config.lazy`): a command reading one dataset's
constants does not load every dataset, nor the datamodule (and Lightning) with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attnseg.config.lazy import lazy_exports

if TYPE_CHECKING:
    from attnseg.data.ade20k import ADE20K
    from attnseg.data.cityscapes import Cityscapes
    from attnseg.data.datamodule import SegDataModule
    from attnseg.data.files import SegmentationFiles
    from attnseg.data.folder import FolderSegmentation
    from attnseg.data.synthetic import SyntheticSegmentation
    from attnseg.data.voc import PascalVOC

__all__ = [
    "ADE20K",
    "Cityscapes",
    "FolderSegmentation",
    "PascalVOC",
    "SegDataModule",
    "SegmentationFiles",
    "SyntheticSegmentation",
]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ADE20K": "ade20k",
        "Cityscapes": "cityscapes",
        "FolderSegmentation": "folder",
        "PascalVOC": "voc",
        "SegDataModule": "datamodule",
        "SegmentationFiles": "files",
        "SyntheticSegmentation": "synthetic",
    },
)
