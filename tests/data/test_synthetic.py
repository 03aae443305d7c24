"""The bundled synthetic dataset: deterministic, well-formed, and built so that context matters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from attnseg.data.synthetic import CLASS_NAMES, SyntheticSegmentation

CRATE_RED, CRATE_BLUE, BEACON = (CLASS_NAMES.index(n) for n in ("crate_red", "crate_blue", "beacon"))


def test_samples_are_a_pure_function_of_seed_split_and_index() -> None:
    a, b = (
        SyntheticSegmentation("train", num_samples=4, image_size=64),
        SyntheticSegmentation("train", image_size=64),
    )
    for i in range(4):
        assert torch.equal(a[i][0], b[i][0]) and torch.equal(a[i][1], b[i][1])
    val = SyntheticSegmentation("val", image_size=64)
    other_seed = SyntheticSegmentation("train", image_size=64, seed=1)
    assert not torch.equal(a[0][0], val[0][0])
    assert not torch.equal(a[0][0], other_seed[0][0])


def test_sample_format() -> None:
    image, mask = SyntheticSegmentation("val", image_size=96)[3]
    assert image.shape == (3, 96, 96) and image.dtype == torch.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert mask.shape == (96, 96) and mask.dtype == torch.int64
    assert set(mask.unique().tolist()) <= set(range(len(CLASS_NAMES)))


def test_crates_look_identical_and_only_the_far_beacon_tells_their_class() -> None:
    ds = SyntheticSegmentation("train", num_samples=200, image_size=128)
    crate_pixels = {CRATE_RED: [], CRATE_BLUE: []}
    for i in range(60):
        image, mask = ds[i]
        crate_ids = [c for c in (CRATE_RED, CRATE_BLUE) if (mask == c).any()]
        assert len(crate_ids) <= 1, "all crates of one image share one class"
        if not crate_ids:
            continue
        crate = crate_ids[0]
        crate_pixels[crate].append(image[:, mask == crate].mean(dim=1))
        # the beacon's colour carries the crate class: red dominates for crate_red, blue otherwise
        r, _, b = image[:, mask == BEACON].mean(dim=1)
        assert (r > b) == (crate == CRATE_RED)
        # and it is far away: every crate pixel is at least a quarter of the image from the beacon
        by, bx = torch.nonzero(mask == BEACON).float().mean(0)
        cy, cx = torch.nonzero(mask == crate).float().T
        assert torch.hypot(cy - by, cx - bx).min() > 0.25 * 128
    # locally the two crate classes are indistinguishable: same mean colour to within noise
    red, blue = (torch.stack(crate_pixels[c]).mean(0) for c in (CRATE_RED, CRATE_BLUE))
    assert torch.allclose(red, blue, atol=0.02)


def test_wide_scenes_put_the_beacon_beyond_a_cnn_receptive_field_from_every_crate() -> None:
    # 64 x 320: at least 0.4 * 320 = 128 px between any crate pixel and any beacon pixel, more
    # than the receptive field of test_resnet at stride 8 plus the FCN head (test_sweeps.py)
    ds = SyntheticSegmentation("val", num_samples=100, image_size=[64, 320])
    sides, classes = set(), set()
    for i in range(len(ds)):
        image, mask = ds[i]
        assert image.shape == (3, 64, 320) and mask.shape == (64, 320)
        beacon_x = torch.nonzero(mask == BEACON)[:, 1]
        crates = (mask == CRATE_RED) | (mask == CRATE_BLUE)
        assert beacon_x.numel() > 0 and crates.any(), f"sample {i} lacks a beacon or a crate"
        crate_x = torch.nonzero(crates)[:, 1]
        gap = max(crate_x.min() - beacon_x.max(), beacon_x.min() - crate_x.max()).item()
        assert gap >= 128, f"sample {i}: crate only {gap} px from the beacon"
        sides.add(bool(beacon_x.max() < crate_x.min()))
        classes.add(CRATE_RED if (mask == CRATE_RED).any() else CRATE_BLUE)
        # the beacon's colour is the only red-blue contrast: elsewhere red = blue up to the noise
        red_minus_blue = image[0] - image[2]
        assert red_minus_blue[mask != BEACON].abs().mean() < 0.06
        assert red_minus_blue[mask == BEACON].mean().abs() > 0.5
    assert sides == {True, False}, "the beacon should sit at either end"
    assert classes == {CRATE_RED, CRATE_BLUE}


def test_diagonal_scenes_put_the_beacon_outside_every_crate_row_and_column_band() -> None:
    # layout=diagonal at 240 x 240: every crate pixel is at least 0.5 * 240 = 120 px from every
    # beacon pixel along each axis: beyond the +-115 px band of one criss-cross pass
    # (tests/models/test_two_passes_geometry.py)
    ds = SyntheticSegmentation("val", num_samples=60, image_size=240, layout="diagonal")
    corners, classes = set(), set()
    for i in range(len(ds)):
        image, mask = ds[i]
        beacon = torch.nonzero(mask == BEACON)
        crates = torch.nonzero((mask == CRATE_RED) | (mask == CRATE_BLUE))
        assert len(beacon) and len(crates), f"sample {i} lacks a beacon or a crate"
        gaps = [
            max(crates[:, a].min() - beacon[:, a].max(), beacon[:, a].min() - crates[:, a].max()).item()
            for a in (0, 1)
        ]
        assert min(gaps) >= 120, f"sample {i}: crates only {gaps} px (rows, columns) from the beacon"
        corners.add(tuple((beacon.float().mean(0) < 120).tolist()))
        classes.add(CRATE_RED if (mask == CRATE_RED).any() else CRATE_BLUE)
        red_minus_blue = image[0] - image[2]  # the beacon is the only red-blue contrast
        assert red_minus_blue[mask != BEACON].abs().mean() < 0.06
    assert len(corners) == 4, "the beacon should visit every corner"
    assert classes == {CRATE_RED, CRATE_BLUE}


def test_diagonal_scenes_are_reproducible() -> None:
    a, b = (SyntheticSegmentation("test", image_size=240, layout="diagonal", seed=3) for _ in range(2))
    assert all(torch.equal(a[i][0], b[i][0]) and torch.equal(a[i][1], b[i][1]) for i in (0, 7))
    assert not torch.equal(a[0][1], SyntheticSegmentation("test", image_size=240, layout="diagonal")[0][1])


@pytest.mark.parametrize("size", [[64, 320], [240, 256], 224])
def test_diagonal_layout_refuses_sizes_that_break_its_geometry(size) -> None:
    with pytest.raises(
        ValueError, match=r"dataset\.val\.image_size must be square with a side of at least 232"
    ):
        SyntheticSegmentation("val", image_size=size, layout="diagonal")


def test_unknown_layout_is_refused_with_the_key() -> None:
    with pytest.raises(
        ValueError, match=r"dataset\.train\.layout must be one of \('auto', 'diagonal'\), got 'corner'"
    ):
        SyntheticSegmentation("train", image_size=200, layout="corner")


@pytest.mark.parametrize("size", [31, [64, 16], [64], "big"])
def test_bad_image_size_is_rejected(size) -> None:
    with pytest.raises(ValueError, match=r"dataset\.train\.image_size must be a side or \[height, width\]"):
        SyntheticSegmentation("train", image_size=size)


def test_joint_transforms_keep_image_and_mask_aligned() -> None:
    plain = SyntheticSegmentation("val", image_size=64)
    flipped = SyntheticSegmentation("val", image_size=64, transforms=v2.RandomHorizontalFlip(p=1.0))
    (img, mask), (fimg, fmask) = plain[0], flipped[0]
    assert torch.equal(fimg, img.flip(-1)) and torch.equal(fmask, mask.flip(-1))


def test_every_class_occurs() -> None:
    ds = SyntheticSegmentation("train", image_size=64)
    counts = np.bincount(
        torch.cat([ds[i][1].flatten() for i in range(40)]).numpy(), minlength=len(CLASS_NAMES)
    )
    assert (counts > 0).all(), counts


def test_bad_split_is_rejected() -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        SyntheticSegmentation("training")
