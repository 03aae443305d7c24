"""A procedurally generated dataset in which context matters.

Every scene has a noisy background, a few solid disks and squares, one cross-shaped *beacon*
(red or blue) and a few checkerboard *crates*. Crates all look the same; their class is
``crate_red`` or ``crate_blue`` depending on the beacon's colour, and the beacon is always placed
far from every crate. A model can label crates correctly only by relating pixels that are a large
part of the image apart: exactly the long-range dependency that self-attention heads model.

How far is far enough depends on the network: a dilated ResNet at stride 8 sees about +-100 px
around each pixel (``test_resnet`` with an FCN head: 115 px), so in a square 64-128 px scene its
receptive field still covers the beacon. *Wide* scenes (``image_size=[height, width]`` with
``width >= 2 * height``; the default, 64 x 320) fix that: the beacon sits at one end and the crates
at the other, at least ``0.4 * width`` pixels apart (128 px at 64 x 320), beyond the reach of a
convolutional head; ``experiment=diag_long_range`` compares the heads on them.

*Diagonal* scenes (``layout=diagonal``, square, side at least 232) test criss-cross attention's
two passes (Huang et al., CCNet, ICCV 2019, https://arxiv.org/abs/1811.11721): the beacon sits in
one corner and the crates in the opposite one, so every crate pixel is at least ``0.5 * side``
away from every beacon pixel along *both* axes (120 px at 240 x 240). The cue then shares neither a
row band nor a column band with any crate: one criss-cross pass, whose row and column features
each see about +-115 px (``test_resnet`` at stride 8), cannot carry it; two passes can
(row -> column -> crate), as can Non-local or self-attention (``experiment=diag_two_passes``).

Samples are a pure function of ``(seed, split, index)``: no download, no files, reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from attnseg.data.transforms import Transform, check_crop_fits, make_sample

CLASS_NAMES = ("background", "disk", "square", "beacon", "crate_red", "crate_blue")
PALETTE = ((0, 0, 0), (230, 159, 0), (0, 158, 115), (240, 228, 66), (213, 94, 0), (0, 114, 178))
SPLITS = ("train", "val", "test")
LAYOUTS = ("auto", "diagonal")
# diagonal scenes: the beacon's and the crates' corner boxes (fractions of the side) leave
# 1 - 0.22 - 0.28 = 0.5 x the side between them along each axis: >= 116 px from a 232 px side on,
# beyond the 115 px reach of test_resnet at stride 8 + a 3 x 3 head
DIAGONAL_BEACON_BOX, DIAGONAL_CRATE_BOX = 0.22, 0.28
MIN_DIAGONAL_SIDE = 232
BEACON_COLORS = {"crate_red": (225, 35, 35), "crate_blue": (35, 70, 230)}


class SyntheticSegmentation(Dataset):
    """Deterministic synthetic scenes (see module docstring).

    Args:
        split: ``train``, ``val`` or ``test`` (disjoint random streams).
        num_samples: number of images in the split.
        image_size: side of square images, or ``[height, width]``, in pixels (each at least 32).
            Scenes at least twice as wide as tall put the beacon and the crates at opposite ends
            (see :func:`render_scene`).
        seed: dataset seed; the same seed always yields the same images.
        transforms: joint image/mask transforms (torchvision ``transforms.v2``).
        layout: ``auto`` (square, or wide when ``width >= 2 * height``) or ``diagonal`` (beacon and
            crates in opposite corners of a square scene of side >= 232; see the module docstring).
    """

    def __init__(
        self,
        split: str = "train",
        *,
        num_samples: int = 1000,
        image_size: int | Sequence[int] = 128,
        seed: int = 0,
        transforms: Transform | None = None,
        layout: str = "auto",
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"SyntheticSegmentation: split must be one of {SPLITS}, got {split!r}")
        if num_samples <= 0:
            raise ValueError(f"dataset.{split}.num_samples must be a positive integer, got {num_samples}")
        try:
            hw = _hw(image_size)
        except (TypeError, ValueError):
            hw = None
        if hw is None or min(hw) < 32:
            raise ValueError(
                f"dataset.{split}.image_size must be a side or [height, width] of at least 32 pixels, "
                f"got {image_size}"
            )
        if layout not in LAYOUTS:
            raise ValueError(f"dataset.{split}.layout must be one of {LAYOUTS}, got {layout!r}")
        if layout == "diagonal" and (hw[0] != hw[1] or hw[0] < MIN_DIAGONAL_SIDE):
            raise ValueError(
                f"dataset.{split}.image_size must be square with a side of at least {MIN_DIAGONAL_SIDE} "
                f"pixels for layout=diagonal, got {image_size}"
            )
        check_crop_fits(transforms, hw, f"dataset.{split}.transforms")
        self.split, self.num_samples, self.image_size, self.seed = split, num_samples, hw, seed
        self.layout = layout
        self.transforms = transforms

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        rng = np.random.default_rng((self.seed, SPLITS.index(self.split), index))
        image, mask = render_scene(rng, self.image_size, self.layout)
        return make_sample(torch.from_numpy(image).permute(2, 0, 1), torch.from_numpy(mask), self.transforms)


def render_scene(
    rng: np.random.Generator, size: int | Sequence[int], layout: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one scene: returns an RGB uint8 image (H, W, 3) and its label map (H, W).

    ``size`` is the side of a square scene or its ``(height, width)``. Objects scale with the
    shorter side. In a square (or slightly oblong) scene every crate centre is at least 0.45 x the
    side from the beacon. A *wide* scene (``width >= 2 * height``) is built so that the cue is far
    away yet easy to see:

    - the beacon stays in the outer 20 % of one end (left or right at random) and the crates in
      the far 40 % of the other, so at least ``0.4 * width`` pixels separate every crate pixel
      from every beacon pixel (128 px at width 320);
    - the beacon is a cross nearly as tall as the image (arm 0.45 x the height);
    - background and distractors have equal red and blue channels, so the beacon is the only
      red-blue contrast in the image;
    - the scene holds ``width // height`` times more crates, disks and squares (5-10 each at
      64 x 320; crates that do not fit their zone are skipped).

    A *diagonal* scene (``layout="diagonal"``, square) keeps the wide scenes' colour rule but puts
    a thick beacon cross filling a corner box of 0.22 x the side (3 % of the image) and 4 or 8
    small crates (as many as fit) inside the opposite corner's box of 0.28 x the side:
    ``0.5 * side`` pixels separate them along each axis.
    """
    h, w = _hw(size)
    s = min(h, w)
    diagonal = layout == "diagonal"
    wide = w >= 2 * h and not diagonal
    grey = wide or diagonal  # red = blue everywhere but on the beacon
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(50, 150, 3)
    tilt = rng.uniform(-30, 30, (2, 3))
    if grey:  # the beacon's colour is then the only red-blue contrast
        base[2], tilt[:, 2] = base[0], tilt[:, 0]
    image = base + tilt[0] * (xx / w)[..., None] + tilt[1] * (yy / h)[..., None]
    mask = np.zeros((h, w), np.uint8)
    placed: list[tuple[float, float, float]] = []  # (cy, cx, radius) of every object drawn

    def place(
        radius: float,
        away_from: tuple[float, float] | None = None,
        min_dist: float = 0.0,
        x_range: tuple[float, float] = (0.0, float(w)),
        y_range: tuple[float, float] = (0.0, float(h)),
    ) -> tuple[float, float] | None:
        # centre ranges keep the object inside the image (and inside x_range, y_range)
        low = (max(radius, y_range[0]), max(radius, x_range[0]))
        high = (min(h - radius, y_range[1]), min(w - radius, x_range[1]))
        for _ in range(100):
            cy, cx = rng.uniform(low, high, 2)
            if away_from is not None and np.hypot(cy - away_from[0], cx - away_from[1]) < min_dist:
                continue
            if all(np.hypot(cy - py, cx - px) > radius + pr + 2 for py, px, pr in placed):
                placed.append((cy, cx, radius))
                return cy, cx
        return None

    # Beacon: a cross whose colour decides the crates' class.
    crate_class = int(rng.integers(2))
    beacon_color = np.array(list(BEACON_COLORS.values())[crate_class], np.float32)
    crate_zone = beacon_y = crate_y = None
    if wide:  # a cross nearly as tall as the image, inside the outer 20 % of one end
        arm, half_width = 0.45 * s, 0.15 * s
        left = bool(rng.integers(2))
        beacon_zone = (0.0, 0.2 * w - arm) if left else (0.8 * w + arm, float(w))
        crate_zone = (0.6 * w, float(w)) if left else (0.0, 0.4 * w)
    elif diagonal:  # a thick cross filling the beacon's corner box; crates in the opposite box
        arm = DIAGONAL_BEACON_BOX / 2 * s
        half_width = 0.4 * arm
        top, left = (bool(b) for b in rng.integers(2, size=2))
        beacon_zone, beacon_y = _corner(left, w, DIAGONAL_BEACON_BOX), _corner(top, h, DIAGONAL_BEACON_BOX)
        crate_zone, crate_y = (
            _corner(not left, w, DIAGONAL_CRATE_BOX),
            _corner(not top, h, DIAGONAL_CRATE_BOX),
        )
    else:
        arm, half_width = 0.1 * s, 0.035 * s
        beacon_zone = (0.0, float(w))
    if wide:
        cy, cx = place(np.hypot(arm, half_width), x_range=beacon_zone)
    elif diagonal:  # the whole cross inside the box: its centre at the box's centre
        cy, cx = sum(beacon_y) / 2, sum(beacon_zone) / 2
        placed.append((cy, cx, arm * 1.42))
    else:
        cy, cx = place(arm * 1.42, x_range=beacon_zone)
    win = _window(cy, cx, arm)
    y, x = yy[win] - cy, xx[win] - cx
    cross = ((np.abs(y) <= arm) & (np.abs(x) <= half_width)) | (
        (np.abs(x) <= arm) & (np.abs(y) <= half_width)
    )
    _paint(image[win], mask[win], cross, beacon_color, CLASS_NAMES.index("beacon"))
    beacon = (cy, cx)

    # Crates: identical grey checkerboards, far from the beacon.
    check = max(s // 32, 2)
    checker = ((yy // check + xx // check) % 2).astype(np.float32)
    count = rng.integers(1, 3) * (w // h if wide else 4 if diagonal else 1)
    for _ in range(count):
        half = rng.uniform(0.03, 0.045) * s if diagonal else rng.uniform(0.08, 0.12) * s
        if crate_zone is not None:  # the crate's whole square, not only its centre, inside the zone
            ys = (0.0, float(h)) if crate_y is None else (crate_y[0] + half, crate_y[1] - half)
            spot = place(half * 1.42, x_range=(crate_zone[0] + half, crate_zone[1] - half), y_range=ys)
        else:
            spot = place(half * 1.42, away_from=beacon, min_dist=0.45 * s)
        if spot is not None:
            win = _window(*spot, half)
            region = (np.abs(yy[win] - spot[0]) <= half) & (np.abs(xx[win] - spot[1]) <= half)
            texture = (95 + 80 * checker[win])[..., None].repeat(3, -1)
            _paint(image[win], mask[win], region, texture, CLASS_NAMES.index("crate_red") + crate_class)

    # Distractors: solid disks and squares in random colours, anywhere.
    for name in ("disk", "square"):
        for _ in range(rng.integers(1, 3) * (w // h if wide else 1)):
            half = rng.uniform(0.07, 0.12) * s
            spot = place(half * 1.42)
            if spot is None:
                continue
            win = _window(*spot, half)
            y, x = yy[win] - spot[0], xx[win] - spot[1]
            region = np.hypot(y, x) <= half if name == "disk" else (np.abs(y) <= half) & (np.abs(x) <= half)
            color = rng.uniform(0, 255, 3)
            if grey:
                color[2] = color[0]
            _paint(image[win], mask[win], region, color, CLASS_NAMES.index(name))

    image += rng.normal(0, 8, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), mask


def _corner(low: bool, side: float, fraction: float) -> tuple[float, float]:
    """The first or the last ``fraction`` of an axis of ``side`` pixels."""
    return (0.0, fraction * side) if low else ((1 - fraction) * side, float(side))


def _window(cy: float, cx: float, extent: float) -> tuple[slice, slice]:
    """Rows and columns that hold every pixel within ``extent`` of ``(cy, cx)`` (painting a
    window instead of the whole image keeps wide, crowded scenes cheap to render)."""
    return (
        slice(max(int(cy - extent) - 1, 0), int(cy + extent) + 2),
        slice(max(int(cx - extent) - 1, 0), int(cx + extent) + 2),
    )


def _hw(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int | np.integer):
        return int(size), int(size)
    h, w = size  # (height, width)
    return int(h), int(w)


def _paint(image: np.ndarray, mask: np.ndarray, region: np.ndarray, color: np.ndarray, label: int) -> None:
    image[region] = color[region] if color.ndim == 3 else color
    mask[region] = label
