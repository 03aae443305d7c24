"""SegmentationInference: sliding windows, flip TTA, and settings it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attnseg.inference.checkpoint import build_model, load_checkpoint, run_config
from attnseg.inference.modes import SegmentationInference
from attnseg.training.module import SegmentationModule


@pytest.fixture(scope="module")
def model(tiny_ckpt: Path) -> SegmentationModule:
    checkpoint = load_checkpoint(tiny_ckpt)
    return build_model(run_config(checkpoint), checkpoint, tiny_ckpt)


def test_sliding_window_covering_the_image_equals_whole_image(model: SegmentationModule) -> None:
    images = torch.rand(2, 3, 64, 56, generator=torch.Generator().manual_seed(0))
    whole = SegmentationInference()(model, images)
    for crop in ([64, 56], [80, 80]):
        assert torch.equal(SegmentationInference(crop_size=crop)(model, images), whole)


def test_overlapping_windows_are_averaged() -> None:
    # a per-pixel model sees no context, so any window layout must reproduce the whole image
    def pixelwise(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, -x], dim=1)

    images = torch.rand(1, 3, 50, 70)
    slid = SegmentationInference(crop_size=[32, 24], stride=[9, 7])(pixelwise, images)
    torch.testing.assert_close(slid, pixelwise(images))


def test_flip_tta_is_flip_consistent(model: SegmentationModule) -> None:
    tta = SegmentationInference(flip=True)
    half = torch.rand(1, 3, 40, 20, generator=torch.Generator().manual_seed(1))
    symmetric = torch.cat([half, half.flip(-1)], dim=-1)  # (1, 3, 40, 40), equal to its mirror image
    scores = tta(model, symmetric)
    torch.testing.assert_close(scores, scores.flip(-1), rtol=0, atol=1e-6)
    assert torch.equal(tta.predict(model, symmetric), tta.predict(model, symmetric).flip(-1))
    # on any image, flip-TTA of the mirror image is the mirror image of flip-TTA
    image = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(tta(model, image.flip(-1)), tta(model, image).flip(-1), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"stride": 16}, r"inference.stride needs inference.crop_size"),
        ({"crop_size": [32, 0]}, r"inference.crop_size must be a positive int or a pair \[h, w\] of them"),
        ({"crop_size": [32, 32, 32]}, r"inference.crop_size must be a positive int or a pair"),
    ],
    ids=["stride_without_window", "zero_size", "three_sizes"],
)
def test_bad_settings_are_named(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SegmentationInference(**settings)
