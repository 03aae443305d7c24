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
