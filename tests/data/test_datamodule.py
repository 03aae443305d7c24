"""SegDataModule refuses, at construction, a train split that cannot fill one batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnseg.data import Cityscapes, SegDataModule
from tests.data.layouts import make_cityscapes

CITYSCAPES_META = {"num_classes": 19, "class_names": [str(c) for c in range(19)], "palette": [[0, 0, 0]] * 19}


def test_train_split_smaller_than_a_batch_is_refused(tmp_path: Path) -> None:
    root = make_cityscapes(tmp_path, {"train": 4, "val": 1})
    train, val = Cityscapes(root, "train"), Cityscapes(root, "val")
    # the train loader drops the incomplete last batch: 4 samples in batches of 8 make no step at all
    with pytest.raises(ValueError, match=r"dataset.batch_size=8 but the train split has 4 samples") as err:
        SegDataModule(train, val, batch_size=8, **CITYSCAPES_META)
    assert "lower dataset.batch_size to at most 4" in str(err.value)
    datamodule = SegDataModule(train, val, batch_size=4, **CITYSCAPES_META)
    assert len(datamodule.train_dataloader()) == 1


def test_sampler_takes_any_seed_lightning_draws() -> None:
    # seed=null: Lightning draws a seed that can be up to 2**64 - 1 (it overflowed manual_seed)
    from attnseg.data.sampling import EpochSampler

    sampler = EpochSampler(8, seed=2**64 - 1)
    sampler.set_epoch(3)
    assert sorted(i for i, _ in sampler) == list(range(8))
