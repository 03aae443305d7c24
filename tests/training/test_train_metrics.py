"""Training metrics score a sample of the epoch: the steps the logger writes and the epoch's last."""

from __future__ import annotations

from pathlib import Path

import pytest
from torchmetrics import MetricCollection

from attnseg.tasks.train import train
from attnseg.training.module import SegmentationModule
from tests.conftest import TINY, compose_config


def scored_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *overrides: str) -> tuple[list[int], dict]:
    """Fit the tiny config; returns the global steps whose batch updated the training metrics."""
    step, scored = [-1], []
    training_step, update = SegmentationModule.training_step, MetricCollection.update

    def watched_step(self, batch, batch_idx):
        step[0] = self.global_step
        return training_step(self, batch, batch_idx)

    def watched_update(self, *args, **kwargs):
        if self.prefix == "train/":
            scored.append(step[0])
        return update(self, *args, **kwargs)

    monkeypatch.setattr(SegmentationModule, "training_step", watched_step)
    monkeypatch.setattr(MetricCollection, "update", watched_update)
    metrics = train(compose_config([*TINY, "logger=csv", "test=false", *overrides], tmp_path))
    return scored, metrics


def test_the_logged_steps_and_the_last_batch_are_scored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 28 samples / batch 4 = 7 steps (global steps 0..6); the logger writes steps 3 and 6 (1-based)
    steps, metrics = scored_steps(
        tmp_path, monkeypatch, "dataset.train.num_samples=28", "trainer.log_every_n_steps=3"
    )
    assert steps == [2, 5, 6]
    assert 0 <= metrics["train/miou"] <= 1


def test_an_epoch_stopped_before_a_scored_step_logs_no_train_miou(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps, metrics = scored_steps(
        tmp_path,
        monkeypatch,
        "dataset.train.num_samples=28",
        "trainer.log_every_n_steps=5",
        "trainer.max_steps=2",
    )
    assert steps == []
    assert "train/miou" not in metrics and "train/loss" in metrics  # the run itself finished
