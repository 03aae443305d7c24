"""Image/mask pairs on disk: the part every real dataset shares.

A dataset class only finds its pairs (:mod:`attnseg.data.listing`) and says how
raw mask values map to class ids (a lookup table); :class:`SegmentationFiles` does the rest,
strictly. At construction it checks that the split is not empty and reads every file's header
(PIL reads only the header, not the pixels): unreadable files, image/mask size mismatches and
masks stored in a lossy format (told by the header, not the file name) fail before training. It
then decodes ``scan_masks`` masks spread over the split (all of them on request), so a value that
is neither a class nor ignored fails before training too; each sample still checks its own mask
values when read, naming the file. Nothing is ever dropped or relabelled silently.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.transforms import v2

from attnseg.data.transforms import Transform, make_sample

Pair = tuple[Path, Path]
INVALID = -1  # lookup-table entry of a raw mask value that is neither a class nor ignored
INDEX_MODES = ("L", "P")  # 8-bit single-channel masks; "P" values are palette indices
# formats that store pixels exactly; a JPEG's artefacts would be read as (valid!) class ids
LOSSLESS = ("PNG", "BMP", "TIFF", "GIF", "lossless WebP")
LOSSY_TIFF = ("jpeg", "tiff_jpeg", "webp")  # TIFF compressions that alter pixel values
SCAN_MASKS = 64  # masks decoded at construction by default, spread over the split


def label_lut(mapping: Mapping[int, int]) -> np.ndarray:
    """Lookup table raw value -> label for 8-bit masks; values missing from ``mapping`` are invalid."""
    lut = np.full(256, INVALID, np.int16)
    for raw, label in mapping.items():
        lut[raw] = label
    return lut


def identity_lut(num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """Masks that already hold class ids ``0..num_classes-1`` and ``ignore_index``."""
    if not num_classes <= ignore_index <= 255:
        raise ValueError(
            f"8-bit masks need num_classes <= ignore_index <= 255, got {num_classes} and {ignore_index}"
        )
    return label_lut({**{c: c for c in range(num_classes)}, ignore_index: ignore_index})


def header(path: Path) -> tuple[tuple[int, int], str, str]:
    """(width, height), PIL mode and real format (:func:`real_format`) from the file header, or an
    error naming the file."""
    try:
        with Image.open(path) as img:
            return img.size, img.mode, real_format(img, path)
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot read {path}: {err}. Expected a readable image file") from err


def real_format(img: Image.Image, path: Path) -> str:
    """The format the header declares, whatever the file name says: ``PNG``, ``JPEG``, ...; TIFF and
    WebP name their compression when it is lossy (``TIFF with JPEG compression``, ``lossy WebP``)."""
    if img.format == "TIFF" and img.info.get("compression") in LOSSY_TIFF:
        return f"TIFF with {img.info['compression'].removeprefix('tiff_').upper()} compression"
    if img.format == "WEBP":
        return "lossless WebP" if _webp_codec(path) == b"VP8L" else "lossy WebP"
    return img.format or "unknown"


def _webp_codec(path: Path) -> bytes:
    """The RIFF chunk holding a WebP's pixels: ``VP8L`` lossless, ``VP8 `` lossy (b"" if none found)."""
    with open(path, "rb") as f:
        f.seek(12)  # "RIFF" <size> "WEBP", then chunks: <fourcc> <size, little-endian> <data>
        while len(chunk := f.read(8)) == 8:
            if chunk[:4] in (b"VP8 ", b"VP8L"):
                return chunk[:4]
            size = int.from_bytes(chunk[4:], "little")
            f.seek(size + size % 2, os.SEEK_CUR)
    return b""


def load(path: Path, mode: str | None = None) -> np.ndarray:
    """Decode a whole file (optionally converted to ``mode``); a truncated file names itself."""
    try:
        with Image.open(path) as img:
            return np.array(img.convert(mode) if mode else img)
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot decode {path}: {err}. The file is corrupt or truncated") from err


class SegmentationFiles(Dataset):
    """Samples from a list of (image, mask) files, checked as described in the module docstring.

    Args:
        pairs: (image path, mask path), one per sample.
        lut: 256-entry table from raw 8-bit mask value to label (``-1``: invalid value).
        mask_modes: PIL modes a mask file may have (``L``/``P`` for index masks).
        image_size: if set, images and masks are resized on load so the shorter side has this many
            pixels (bilinear / nearest): the base size of the random rescaling. ``None``: native size.
        num_samples: if set, only the first ``num_samples`` pairs (in sorted order); for quick runs.
        transforms: joint image/mask transforms (torchvision ``transforms.v2``).
        name: dataset name used in messages.
        scan_masks: masks decoded at construction, spread evenly over the split, so a value that is
            neither a class nor ignored fails before training; ``None``: every mask; 0: none.
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        *,
        lut: np.ndarray,
        mask_modes: Sequence[str] = INDEX_MODES,
        image_size: int | None = None,
        num_samples: int | None = None,
        transforms: Transform | None = None,
        name: str = "dataset",
        scan_masks: int | None = SCAN_MASKS,
    ) -> None:
        if not pairs:
            raise ValueError(f"{name}: the split has no samples")
        if num_samples is not None:
            if not 0 < num_samples <= len(pairs):
                raise ValueError(
                    f"{name}: num_samples={num_samples} but the split has {len(pairs)} samples; "
                    f"use 1..{len(pairs)} or null for all"
                )
            pairs = list(pairs)[:num_samples]
        if scan_masks is not None and (type(scan_masks) is not int or scan_masks < 0):
            raise ValueError(
                f"{name}: scan_masks must be a number of masks >= 0 (0: no scan) or null (every mask), "
                f"got {scan_masks!r}"
            )
        if image_size is not None and image_size < 8:
            raise ValueError(f"{name}: image_size must be at least 8 pixels (or null), got {image_size}")
        self.pairs = [(Path(i), Path(m)) for i, m in pairs]
        self.lut, self.name = lut, name
        for image_path, mask_path in self.pairs:
            check_pair(image_path, mask_path, mask_modes)
        for index in spread(len(self.pairs), scan_masks):
            self.read_mask(self.pairs[index][1])  # raises naming the file and the values
        resize = [v2.Resize(image_size, antialias=True)] if image_size else []
        steps = resize + ([transforms] if transforms is not None else [])
        self.transforms = v2.Compose(steps) if steps else None

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_path, mask_path = self.pairs[index]
        image = load(image_path, "RGB")
        mask = self.read_mask(mask_path)
        return make_sample(torch.from_numpy(image).permute(2, 0, 1), torch.from_numpy(mask), self.transforms)

    def read_mask(self, path: Path) -> np.ndarray:
        """Labels (uint8, H x W) of one mask file; a value outside the table is an error."""
        # palette ("P") PNGs decode to their indices, not to colours
        return map_labels(load(path), self.lut, path, self.name)


def map_labels(raw: np.ndarray, lut: np.ndarray, path: Path, name: str) -> np.ndarray:
    """Raw 8-bit mask values -> labels (uint8); a value the table marks invalid names the file."""
    labels = lut[raw]
    if (labels == INVALID).any():
        bad = np.unique(raw[labels == INVALID]).tolist()
        valid = np.flatnonzero(lut != INVALID).tolist()
        raise ValueError(
            f"{path}: mask value(s) {bad[:10]} are neither a class nor the ignore index; "
            f"{name} masks may hold only {compact(valid)}"
        )
    return labels.astype(np.uint8)


def check_pair(image_path: Path, mask_path: Path, mask_modes: Sequence[str]) -> None:
    """Both headers readable, the same size, and the mask lossless and of an expected mode."""
    image_size, _, _ = header(image_path)
    mask_size, mask_mode, mask_format = header(mask_path)
    if mask_format not in LOSSLESS:
        raise ValueError(
            f"{mask_path}: the mask file is really a {mask_format} file (read from its header, whatever "
            "its name), not one of the lossless formats masks may use: a lossy format's compression "
            "artefacts would be read as class ids. Expected a lossless PNG, BMP or TIFF (GIF and lossless "
            "WebP also work) of class ids or palette indices (class colours for RGB masks); export the "
            "masks again from their source"
        )
    if mask_mode not in mask_modes:
        raise ValueError(
            f"{mask_path}: mask has PIL mode {mask_mode!r}, expected one of {list(mask_modes)} "
            "(single-channel class ids: 'L' grayscale or 'P' palette PNG; 'RGB' only for colour masks)"
        )
    if image_size != mask_size:
        raise ValueError(
            f"image and mask differ in size: {image_path} is {image_size[0]}x{image_size[1]} but "
            f"{mask_path} is {mask_size[0]}x{mask_size[1]} (width x height)"
        )


def spread(total: int, count: int | None) -> list[int]:
    """``count`` indices spread evenly over ``range(total)``, first and last included; ``None``: all."""
    if count is None or count >= total:
        return list(range(total))
    return sorted({round(i * (total - 1) / max(count - 1, 1)) for i in range(count)})


def compact(values: Sequence[int]) -> str:
    """``[0, 1, 2, 3, 255]`` -> ``'0..3, 255'``."""
    runs: list[list[int]] = []
    for v in values:
        if runs and runs[-1][1] == v - 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs)
