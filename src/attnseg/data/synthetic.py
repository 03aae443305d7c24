"""A procedurally generated dataset in which context matters.

Every scene has a noisy background, a few solid disks and squares, one cross-shaped *beacon*
(red or blue) and a few checkerboard *crates*. Crates all look the same; their class is
``crate_red`` or ``crate_blue`` depending on the beacon's colour, and the beacon is always placed
far from every crate. A model can label crates correctly only by relating pixels that are a large
part of the image apart: exactly the long-range dependency that self-attention heads model and
that a small receptive field cannot see.

Samples are a pure function of ``(seed, split, index)``: no download, no files, reproducible.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from attnseg.data.transforms import Transform, check_crop_fits, make_sample

CLASS_NAMES = ("background", "disk", "square", "beacon", "crate_red", "crate_blue")
PALETTE = ((0, 0, 0), (230, 159, 0), (0, 158, 115), (240, 228, 66), (213, 94, 0), (0, 114, 178))
SPLITS = ("train", "val", "test")
BEACON_COLORS = {"crate_red": (225, 35, 35), "crate_blue": (35, 70, 230)}


class SyntheticSegmentation(Dataset):
    """Deterministic synthetic scenes (see module docstring).

    Args:
        split: ``train``, ``val`` or ``test`` (disjoint random streams).
        num_samples: number of images in the split.
        image_size: side of the square images, in pixels (at least 32).
        seed: dataset seed; the same seed always yields the same images.
        transforms: joint image/mask transforms (torchvision ``transforms.v2``).
    """

    def __init__(
        self,
        split: str = "train",
        *,
        num_samples: int = 1000,
        image_size: int = 128,
        seed: int = 0,
        transforms: Transform | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"SyntheticSegmentation: split must be one of {SPLITS}, got {split!r}")
        if num_samples <= 0:
            raise ValueError(f"dataset.{split}.num_samples must be a positive integer, got {num_samples}")
        if image_size < 32:
            raise ValueError(f"dataset.{split}.image_size must be at least 32 pixels, got {image_size}")
        check_crop_fits(transforms, (image_size, image_size), f"dataset.{split}.transforms")
        self.split, self.num_samples, self.image_size, self.seed = split, num_samples, image_size, seed
        self.transforms = transforms

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        rng = np.random.default_rng((self.seed, SPLITS.index(self.split), index))
        image, mask = render_scene(rng, self.image_size)
        return make_sample(torch.from_numpy(image).permute(2, 0, 1), torch.from_numpy(mask), self.transforms)


def render_scene(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw one scene: returns an RGB uint8 image (H, W, 3) and its label map (H, W)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = rng.uniform(50, 150, 3)
    tilt = rng.uniform(-30, 30, (2, 3))
    image = base + tilt[0] * (xx / size)[..., None] + tilt[1] * (yy / size)[..., None]
    mask = np.zeros((size, size), np.uint8)
    placed: list[tuple[float, float, float]] = []  # (cy, cx, radius) of every object drawn

    def place(radius: float, away_from: tuple[float, float] | None = None, min_dist: float = 0.0):
        for _ in range(100):
            cy, cx = rng.uniform(radius, size - radius, 2)
            if away_from is not None and np.hypot(cy - away_from[0], cx - away_from[1]) < min_dist:
                continue
            if all(np.hypot(cy - py, cx - px) > radius + pr + 2 for py, px, pr in placed):
                placed.append((cy, cx, radius))
                return cy, cx
        return None

    # Beacon: a cross whose colour decides the crates' class.
    crate_class = int(rng.integers(2))
    beacon_color = np.array(list(BEACON_COLORS.values())[crate_class], np.float32)
    arm, half_width = 0.1 * size, 0.035 * size
    cy, cx = place(arm * 1.42)
    cross = ((np.abs(yy - cy) <= arm) & (np.abs(xx - cx) <= half_width)) | (
        (np.abs(xx - cx) <= arm) & (np.abs(yy - cy) <= half_width)
    )
    _paint(image, mask, cross, beacon_color, CLASS_NAMES.index("beacon"))
    beacon = (cy, cx)

    # Crates: identical grey checkerboards, far from the beacon.
    check = max(size // 32, 2)
    checker = ((yy // check + xx // check) % 2).astype(np.float32)
    for _ in range(rng.integers(1, 3)):
        half = rng.uniform(0.08, 0.12) * size
        spot = place(half * 1.42, away_from=beacon, min_dist=0.45 * size)
        if spot is not None:
            region = (np.abs(yy - spot[0]) <= half) & (np.abs(xx - spot[1]) <= half)
            texture = (95 + 80 * checker)[..., None].repeat(3, -1)
            _paint(image, mask, region, texture, CLASS_NAMES.index("crate_red") + crate_class)

    # Distractors: solid disks and squares in random colours.
    for name in ("disk", "square"):
        for _ in range(rng.integers(1, 3)):
            half = rng.uniform(0.07, 0.12) * size
            spot = place(half * 1.42)
            if spot is None:
                continue
            if name == "disk":
                region = np.hypot(yy - spot[0], xx - spot[1]) <= half
            else:
                region = (np.abs(yy - spot[0]) <= half) & (np.abs(xx - spot[1]) <= half)
            _paint(image, mask, region, rng.uniform(0, 255, 3), CLASS_NAMES.index(name))

    image += rng.normal(0, 8, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), mask


def _paint(image: np.ndarray, mask: np.ndarray, region: np.ndarray, color: np.ndarray, label: int) -> None:
    image[region] = color[region] if color.ndim == 3 else color
    mask[region] = label
