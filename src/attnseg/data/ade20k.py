"""ADE20K as released for the MIT Scene Parsing Benchmark (SceneParsing, 150 classes).

Zhou et al., "Scene Parsing through ADE20K Dataset", CVPR 2017.
https://arxiv.org/abs/1608.05442

The annotation PNGs hold 0 for "other / unlabelled" and 1..150 for the classes; the loader maps
0 to the ignore index 255 and shifts the classes down by one (the ``reduce_zero_label`` of
mmsegmentation), so class ids are 0..149.
"""

from __future__ import annotations

from pathlib import Path

from attnseg.data.files import SCAN_MASKS, SegmentationFiles, label_lut
from attnseg.data.listing import list_files, pair_files, require_layout
from attnseg.data.transforms import Transform

NUM_CLASSES, IGNORE = 150, 255
LUT = label_lut({0: IGNORE, **{k: k - 1 for k in range(1, NUM_CLASSES + 1)}})
SPLITS = ("training", "validation")
HOW_TO_GET = (
    "Download ADEChallengeData2016.zip from http://sceneparsing.csail.mit.edu/ "
    "(http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip), unzip it into "
    "<folder> so that <folder>/ADEChallengeData2016 exists, and pass dataset.root=<folder>."
)


class ADE20K(SegmentationFiles):
    """One split of ADE20K SceneParsing (150 classes, ignore index 255).

    Args:
        root: folder holding ``ADEChallengeData2016/``.
        split: ``training`` or ``validation`` (the folder names of the release).
        image_size: shorter side images are resized to on load; ``None`` keeps the files' size.
        num_samples: only the first ``num_samples`` images (sorted by name); ``None``: all.
        transforms: joint image/mask transforms (torchvision ``transforms.v2``).
        scan_masks: masks decoded at construction, spread over the split, to find a value that is
            neither a class nor ignored before training; ``None``: every mask; 0: none.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "training",
        *,
        image_size: int | None = None,
        num_samples: int | None = None,
        transforms: Transform | None = None,
        scan_masks: int | None = SCAN_MASKS,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"ADE20K: split must be one of {SPLITS}, got {split!r}")
        expected = [f"ADEChallengeData2016/images/{split}", f"ADEChallengeData2016/annotations/{split}"]
        ade = require_layout(root, "ADE20K", expected, HOW_TO_GET) / "ADEChallengeData2016"
        image_dir, mask_dir = ade / "images" / split, ade / "annotations" / split
        images = {p.stem: p for p in list_files(image_dir, depth=0) if p.suffix == ".jpg"}
        if not images:
            raise ValueError(f"ADE20K: no *.jpg files in {image_dir}: the split is empty")
        masks = {p.stem: p for p in list_files(mask_dir, depth=0) if p.suffix == ".png"}
        pairs = pair_files(images, masks, f"ADE20K {split} ({image_dir} vs {mask_dir})")
        super().__init__(
            pairs,
            lut=LUT,
            image_size=image_size,
            num_samples=num_samples,
            transforms=transforms,
            scan_masks=scan_masks,
            name=f"ADE20K {split}",
        )
