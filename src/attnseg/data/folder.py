"""Your own data: ``images/<split>/`` and ``masks/<split>/``, paired by file name without extension.

Masks are either single-channel index PNGs (``mask_format: index``: pixel value = class id, or
the ignore index) or colour PNGs (``mask_format: rgb``: each class has its colour in the
dataset's palette, one optional colour means "ignore"). Sub-folders are allowed and take part in
the pairing (``images/train/a/x.jpg`` pairs with ``masks/train/a/x.png``); symlinked sub-folders
count like real ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from attnseg.data.files import INDEX_MODES, SCAN_MASKS, SegmentationFiles, identity_lut, load
from attnseg.data.listing import list_files, pair_files, require_layout
from attnseg.data.transforms import Transform

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MASK_EXTENSIONS = (".png", ".bmp", ".tif", ".tiff")  # lossless only: JPEG noise would change class ids
MASK_FORMATS = ("index", "rgb")
HOW_TO_GET = (
    "Put your images in <root>/images/<split>/ and their masks, with the same file names (any "
    "extension), in <root>/masks/<split>/, then pass dataset.root=<root>."
)


class FolderSegmentation(SegmentationFiles):
    """One split of a folder dataset (see module docstring).

    Args:
        root: folder holding ``images/`` and ``masks/``.
        split: sub-folder of both, e.g. ``train``, ``val``, ``test``.
        num_classes: number of classes (class ids ``0..num_classes-1``).
        ignore_index: label of pixels excluded from loss and metrics (an index-mask value).
        mask_format: ``index`` (single-channel class ids) or ``rgb`` (colours of ``palette``).
        palette: one RGB colour per class; maps colour masks to class ids (``rgb`` only).
        ignore_color: an RGB colour of colour masks that means "ignore" (``rgb`` only); ``None``: none.
        image_size: shorter side images are resized to on load; ``None`` keeps the files' size.
        num_samples: only the first ``num_samples`` images (sorted by path); ``None``: all.
        transforms: joint image/mask transforms (torchvision ``transforms.v2``).
        scan_masks: masks decoded at construction, spread over the split, to find a value that is
            neither a class nor ignored before training; ``None``: every mask; 0: none.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        num_classes: int,
        ignore_index: int = 255,
        mask_format: str = "index",
        palette: Sequence[Sequence[int]] | None = None,
        ignore_color: Sequence[int] | None = None,
        image_size: int | None = None,
        num_samples: int | None = None,
        transforms: Transform | None = None,
        scan_masks: int | None = SCAN_MASKS,
    ) -> None:
        if mask_format not in MASK_FORMATS:
            raise ValueError(f"folder: mask_format must be one of {MASK_FORMATS}, got {mask_format!r}")
        lut = identity_lut(num_classes, ignore_index)
        self.colors = (
            color_table(palette, num_classes, ignore_color, ignore_index) if mask_format == "rgb" else None
        )
        root = require_layout(root, "folder", [f"images/{split}", f"masks/{split}"], HOW_TO_GET)
        image_dir, mask_dir = root / "images" / split, root / "masks" / split
        images = _by_stem(image_dir, IMAGE_EXTENSIONS)
        if not images:
            raise ValueError(
                f"folder: no images ({', '.join(IMAGE_EXTENSIONS)}) in {image_dir}: the split is empty"
            )
        masks = _by_stem(mask_dir, MASK_EXTENSIONS)
        super().__init__(
            pair_files(images, masks, f"folder {split} ({image_dir} vs {mask_dir})"),
            lut=lut,
            mask_modes=("RGB", "P") if mask_format == "rgb" else INDEX_MODES,
            image_size=image_size,
            num_samples=num_samples,
            transforms=transforms,
            scan_masks=scan_masks,
            name=f"folder {split}",
        )

    def read_mask(self, path: Path) -> np.ndarray:
        if self.colors is None:
            return super().read_mask(path)
        rgb = load(path, "RGB").astype(np.int32)
        codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]  # (H, W) one int per colour
        colors, inverse = np.unique(codes, return_inverse=True)
        unknown = [_rgb(c) for c in colors.tolist() if c not in self.colors]
        if unknown:
            raise ValueError(
                f"{path}: colour(s) {unknown[:10]} are not in dataset.palette {[_rgb(c) for c in self.colors]} "
                "(nor the ignore_color); every mask colour must be a class colour"
            )
        labels = np.array([self.colors[c] for c in colors.tolist()], np.uint8)
        return labels[inverse].reshape(codes.shape)


def color_table(
    palette: Sequence[Sequence[int]] | None,
    num_classes: int,
    ignore_color: Sequence[int] | None,
    ignore_index: int,
) -> dict[int, int]:
    """``{0xRRGGBB: label}`` for colour masks; the palette must give each class its own colour."""
    if palette is None or len(palette) != num_classes:
        raise ValueError(f"folder: mask_format=rgb needs dataset.palette with {num_classes} RGB colours")
    table: dict[int, int] = {}
    named = [(tuple(c), label) for label, c in enumerate(palette)]
    if ignore_color is not None:
        named.append((tuple(ignore_color), ignore_index))
    for color, label in named:
        if len(color) != 3 or not all(0 <= v <= 255 for v in color):
            raise ValueError(f"folder: colour {list(color)} is not an RGB triple of 0..255 values")
        code = (color[0] << 16) | (color[1] << 8) | color[2]
        if code in table:
            raise ValueError(
                f"folder: colour {list(color)} is given to two labels ({table[code]} and {label})"
            )
        table[code] = label
    return table


def _by_stem(folder: Path, extensions: Sequence[str]) -> dict[str, Path]:
    """``{"sub/dir/name": path}`` of every file under ``folder`` (symlinks followed); a foreign file is an error."""
    found: dict[str, Path] = {}
    for path in (p for p in list_files(folder) if not p.name.startswith(".")):
        if path.suffix.lower() not in extensions:
            raise ValueError(f"{path}: unexpected file in {folder}; expected one of {', '.join(extensions)}")
        key = path.relative_to(folder).with_suffix("").as_posix()
        if key in found:
            raise ValueError(f"{found[key]} and {path} share the name {key!r}: pairing would be ambiguous")
        found[key] = path
    return found


def _rgb(code: int) -> list[int]:
    return [code >> 16, (code >> 8) & 255, code & 255]
