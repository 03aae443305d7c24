"""PASCAL VOC 2012 segmentation (21 classes), optionally with the SBD-augmented training set.

Everingham et al., "The PASCAL Visual Object Classes Challenge: A Retrospective", IJCV 2015.
Hariharan et al., "Semantic Contours from Inverse Detectors" (SBD), ICCV 2011.

``SegmentationClass/*.png`` are palette ("P") PNGs: their pixel values are the class indices
(0 background, 1..20 objects, 255 the object borders, which are ignored), the colours are only
the palette. They are read as indices, never converted to RGB. The split is the list file
``ImageSets/Segmentation/<split>.txt``; the SBD-augmented set (10582 images) is the usual
``SegmentationClassAug/`` folder of 8-bit index PNGs with its own list (e.g. ``train_aug.txt``).
"""

from __future__ import annotations

from pathlib import Path

from attnseg.data.files import SCAN_MASKS, SegmentationFiles, identity_lut
from attnseg.data.listing import pair_files, require_layout
from attnseg.data.transforms import Transform

NUM_CLASSES, IGNORE = 21, 255
HOW_TO_GET = (
    "Download VOCtrainval_11-May-2012.tar from http://host.robots.ox.ac.uk/pascal/VOC/voc2012/, "
    "extract it so that <folder>/VOCdevkit/VOC2012 exists, and pass dataset.root=<folder>. "
    "For the SBD-augmented training set, add SegmentationClassAug/ and its list "
    "(ImageSets/Segmentation/train_aug.txt) to VOC2012/."
)


class PascalVOC(SegmentationFiles):
    """One split of PASCAL VOC 2012 segmentation.

    Args:
        root: folder holding ``VOCdevkit/VOC2012``.
        split: name of a list in ``VOC2012/ImageSets/Segmentation/`` (``train``, ``val``,
            ``trainval``, or an SBD list such as ``train_aug``).
        mask_dir: folder of ``VOC2012`` with the masks: ``SegmentationClass`` or, for the
            SBD-augmented list, ``SegmentationClassAug``.
        image_size: shorter side images are resized to on load; ``None`` keeps the files' size.
        num_samples: only the first ``num_samples`` images (sorted by id); ``None``: all.
        transforms: joint image/mask transforms (torchvision ``transforms.v2``).
        scan_masks: masks decoded at construction, spread over the split, to find a value that is
            neither a class nor ignored before training; ``None``: every mask; 0: none.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        mask_dir: str = "SegmentationClass",
        image_size: int | None = None,
        num_samples: int | None = None,
        transforms: Transform | None = None,
        scan_masks: int | None = SCAN_MASKS,
    ) -> None:
        lists = "VOCdevkit/VOC2012/ImageSets/Segmentation"
        expected = ["VOCdevkit/VOC2012/JPEGImages", f"VOCdevkit/VOC2012/{mask_dir}", lists]
        voc = require_layout(root, "PASCAL VOC", expected, HOW_TO_GET) / "VOCdevkit" / "VOC2012"
        list_file = voc / "ImageSets" / "Segmentation" / f"{split}.txt"
        if not list_file.is_file():
            available = sorted(p.stem for p in list_file.parent.glob("*.txt"))
            raise FileNotFoundError(f"PASCAL VOC: no split list {list_file}; available lists: {available}")
        # a line is an id, or (DeepLab-style lists) "/JPEGImages/<id>.jpg /SegmentationClassAug/<id>.png"
        ids = sorted(
            {Path(line.split()[0]).stem for line in list_file.read_text().splitlines() if line.strip()}
        )
        if not ids:
            raise ValueError(f"PASCAL VOC: {list_file} lists no images: the split is empty")
        # the list names the samples: every listed id needs both of its files
        images = {i: voc / "JPEGImages" / f"{i}.jpg" for i in ids}
        masks = {i: voc / mask_dir / f"{i}.png" for i in ids}
        neither = [i for i in ids if not images[i].is_file() and not masks[i].is_file()]
        if neither:
            raise FileNotFoundError(
                f"PASCAL VOC: {len(neither)} id(s) listed in {list_file} have neither an image in "
                f"{voc / 'JPEGImages'} nor a mask in {voc / mask_dir}: {neither[:5]}"
            )
        pairs = pair_files(
            {i: p for i, p in images.items() if p.is_file()},
            {i: p for i, p in masks.items() if p.is_file()},
            f"PASCAL VOC {split} (ids listed in {list_file})",
        )
        super().__init__(
            pairs,
            lut=identity_lut(NUM_CLASSES, IGNORE),
            image_size=image_size,
            num_samples=num_samples,
            transforms=transforms,
            scan_masks=scan_masks,
            name=f"PASCAL VOC {split}",
        )


def voc_colormap(n: int = 256) -> list[tuple[int, int, int]]:
    """The VOC colour map: the bits of index ``i`` spread over R, G, B from the high bit down."""
    colors = []
    for i in range(n):
        rgb, c = [0, 0, 0], i
        for bit in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((c >> channel) & 1) << bit
            c >>= 3
        colors.append((rgb[0], rgb[1], rgb[2]))
    return colors
