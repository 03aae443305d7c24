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
