"""Bad configuration fails at start, with a message naming the key and the expected value."""

from __future__ import annotations

import pytest
from hydra.errors import InstantiationException

from attnseg.tasks.train import train


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["dataset.num_classes=0"], r"dataset.num_classes must be a positive integer, got 0"),
        (["dataset.num_classes=4"], r"dataset.class_names has 6 names but dataset.num_classes is 4"),
        (["dataset.ignore_index=3"], r"dataset.ignore_index=3 collides with a class id"),
        (["dataset.batch_size=0"], r"dataset.batch_size must be a positive integer"),
        (["dataset.train.num_samples=0"], r"dataset.train.num_samples must be a positive integer"),
        (
            [
                "dataset.train.transforms._target_=torchvision.transforms.v2.RandomCrop",
                "+dataset.train.transforms.size=96",
            ],
            r"dataset.train.transforms: RandomCrop size \(96, 96\) is larger than the images \(64, 64\)",
        ),
        (["backbone.name=vit_small_patch16_224"], r"cannot be dilated to output_stride=8"),
        (["backbone.name=no_such_net"], r"backbone.name: timm has no model 'no_such_net'"),
        (["backbone.output_stride=4"], r"backbone.output_stride must be 8, 16 or 32, got 4"),
        (["backbone.weights=/nonexistent/w.pth"], r"backbone.weights: no such file '/nonexistent/w.pth'"),
        (["loss.ohem_thresh=1.5"], r"loss.ohem_thresh must be in \(0, 1\]"),
    ],
)
def test_bad_value_fails_before_training(make_cfg, overrides: list[str], message: str, tmp_path) -> None:
    cfg = make_cfg("logger=csv", *overrides)
    with pytest.raises(InstantiationException, match=message):
        train(cfg)
    # nothing was trained: no checkpoint and no metrics were written
    assert not (tmp_path / "checkpoints").exists()
    assert not (tmp_path / "csv").exists()
