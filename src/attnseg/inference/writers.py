"""How a predicted label map is written: one writer per output format.

``attnseg-predict`` builds the writer of ``writer=<option>`` (``conf/writer/``) with Hydra's
``_target_`` and calls ``prepare(images, output)`` once, before the model runs (a run that would
write files that clash, or a broken submission, stops there), then ``write(output, source,
image, mask)`` per image; ``mask`` holds the model's class ids (H, W) uint8.

- :class:`MaskAndOverlay`, for people: a palettised mask and an overlay per image.
- :class:`IdPNG`, for a benchmark's test server: one single-channel PNG of the benchmark's ids
  per image, named after the image, alone in its folder (MMSegmentation's ``format_only``).
  :func:`cityscapes_submission` and :func:`ade20k_submission` configure it; another benchmark
  is one more such function and a YAML in ``conf/writer/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from attnseg.data.ade20k import NUM_CLASSES as ADE20K_CLASSES
from attnseg.data.cityscapes import LABEL_IDS as CITYSCAPES_LABEL_IDS
from attnseg.viz.masks import Palette, blend, colorize, mask_image

# how the official evaluator pairs a prediction with its ground truth: a file name starting
# with <city>_<seq>_<frame> (cityscapesscripts' evalPixelLevelSemanticLabeling.getPrediction)
CITYSCAPES_FRAME = r"[^_]+_\d{6}_\d{6}(?=_|$)"


class Writer(Protocol):
    """``prepare`` once (checks; creates ``output``), then ``write`` per image: the files written."""

    def prepare(self, images: Sequence[Path], output: Path) -> None: ...

    def write(self, output: Path, source: Path, image: np.ndarray, mask: np.ndarray) -> list[Path]: ...


class MaskAndOverlay:
    """``<name>_mask.png``, a palettised PNG whose pixel values are the class ids (viewers show
    the palette), and ``<name>_overlay.png``, the image with the class colours blended in.

    Args:
        palette: RGB colour of each class.
        alpha: opacity of the class colours in the overlay.
    """

    def __init__(self, palette: Palette, alpha: float = 0.5) -> None:
        self.palette = [tuple(color) for color in palette]
        self.alpha = alpha

    def prepare(self, images: Sequence[Path], output: Path) -> None:
        check_distinct(images, lambda path: f"{path.stem}_mask.png", "writer=default")
        output.mkdir(parents=True, exist_ok=True)

    def write(self, output: Path, source: Path, image: np.ndarray, mask: np.ndarray) -> list[Path]:
        mask_path, overlay_path = output / f"{source.stem}_mask.png", output / f"{source.stem}_overlay.png"
        mask_image(mask, self.palette).save(mask_path)
        Image.fromarray(blend(image, colorize(mask, self.palette), self.alpha)).save(overlay_path)
        return [mask_path, overlay_path]


class IdPNG:
    """A test-server submission: ``<output>/<image name>.png`` per image, single-channel 8-bit,
    holding ``ids[class id]``, and nothing else in ``output`` (it must be new or empty).

    Args:
        ids: the benchmark's id of each class, indexed by the class ids the model predicts.
        num_classes: the number of classes the model predicts; must be ``len(ids)``.
        benchmark: the writer option's name, for messages.
        frame_pattern: a regular expression the start of every image name must match; the
            matched part is how the benchmark finds a prediction, so it must differ between
            images. ``None``: the whole name, any name.
    """

    def __init__(
        self, ids: Sequence[int], num_classes: int, benchmark: str, *, frame_pattern: str | None = None
    ) -> None:
        if num_classes != len(ids):
            raise ValueError(
                f"writer={benchmark}: the checkpoint predicts {num_classes} classes, the {benchmark} "
                f"format has ids for {len(ids)}; expected a model trained on {benchmark}"
            )
        self.lut = np.zeros(256, np.uint8)
        self.lut[: len(ids)] = np.asarray(ids, np.uint8)
        self.num_classes, self.benchmark, self.frame_pattern = num_classes, benchmark, frame_pattern

    def prepare(self, images: Sequence[Path], output: Path) -> None:
        check_distinct(images, self.frame, f"writer={self.benchmark}")
        if output.exists() and any(output.iterdir()):
            shown = ", ".join(sorted(p.name for p in output.iterdir())[:5])
            raise FileExistsError(
                f"output: {str(output)!r} already holds {shown}; writer={self.benchmark} writes a "
                "submission folder that holds its PNGs only: expected a new or empty folder"
            )
        output.mkdir(parents=True, exist_ok=True)

    def write(self, output: Path, source: Path, image: np.ndarray, mask: np.ndarray) -> list[Path]:
        if mask.max(initial=0) >= self.num_classes:
            raise ValueError(
                f"writer={self.benchmark}: {source} was predicted a class id >= {self.num_classes}"
            )
        path = output / f"{source.stem}.png"
        Image.fromarray(self.lut[mask]).save(path)  # (H, W) uint8: an "L" PNG
        return [path]

    def frame(self, source: Path) -> str:
        if self.frame_pattern is None:
            return source.stem
        found = re.match(self.frame_pattern, source.stem)
        if found is None:
            raise ValueError(
                f"writer={self.benchmark}: the image {str(source)!r} is not named as the benchmark's "
                f"images are; expected a name starting with the pattern {self.frame_pattern!r}, "
                "by which the test server pairs a prediction with its ground truth"
            )
        return found.group(0)


def cityscapes_submission(num_classes: int) -> IdPNG:
    """Cityscapes' test server: the 34 label ids (not the 19 train ids), one PNG per
    ``<city>_<seq>_<frame>_leftImg8bit`` image, named after it."""
    ids = [CITYSCAPES_LABEL_IDS[train_id] for train_id in range(len(CITYSCAPES_LABEL_IDS))]
    return IdPNG(ids, num_classes, "cityscapes", frame_pattern=CITYSCAPES_FRAME)


def ade20k_submission(num_classes: int) -> IdPNG:
    """The MIT Scene Parsing (ADE20K) server: class id + 1 (0 is "other", which the loader
    ignores), one PNG per image, named after it."""
    return IdPNG(range(1, ADE20K_CLASSES + 1), num_classes, "ade20k")


def check_distinct(images: Sequence[Path], key: Callable[[Path], str], what: str) -> None:
    """No two images may give the same output name (``key``), or one would overwrite the other."""
    seen: dict[str, Path] = {}
    for path in images:
        name = key(path)
        if name in seen:
            raise ValueError(
                f"input: {str(seen[name])!r} and {str(path)!r} both map to the output {name!r} "
                f"({what}); expected one image per name"
            )
        seen[name] = path
