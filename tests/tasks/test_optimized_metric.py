"""optimized_metric: an error only where a sweeper maximises it, and then before training."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict, read_write

from attnseg.tasks.train import _sweeper_optimises, run
from tests.conftest import TINY, compose_config

NO_VALIDATION = [*TINY, "logger=none", "test=false", "+trainer.limit_val_batches=0"]


def as_sweep_job(sweeper: str) -> None:
    hydra_cfg = HydraConfig.get()
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.mode = RunMode.MULTIRUN
        hydra_cfg.sweeper = {"_target_": sweeper}


def test_a_single_run_without_validation_finishes_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert run(compose_config(NO_VALIDATION, tmp_path)) is None
    assert (tmp_path / "metrics.json").is_file()
    assert "optimized_metric='val/miou' was not logged" in caplog.text


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["+trainer.limit_val_batches=0"], "trainer.limit_val_batches=0"),
        (["optimized_metric=test/miou", "test=false"], "test=False"),
    ],
)
def test_an_optimising_sweep_refuses_a_metric_it_never_computes_before_training(
    tmp_path: Path, overrides: list[str], named: str
) -> None:
    cfg = compose_config([*TINY, "logger=none", *overrides], tmp_path)
    as_sweep_job("hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper")
    with pytest.raises(
        ValueError, match=rf"optimized_metric='(val|test)/miou'.* never computed with {named}"
    ):
        run(cfg)
    assert not (tmp_path / "config.yaml").exists()  # nothing was built


def test_only_a_sweeper_other_than_the_grid_is_an_optimising_one(tmp_path: Path) -> None:
    compose_config(NO_VALIDATION, tmp_path)
    assert not _sweeper_optimises()  # a single run
    as_sweep_job("hydra._internal.core_plugins.basic_sweeper.BasicSweeper")
    assert not _sweeper_optimises()  # a grid sweep ignores the returned value
    as_sweep_job("hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper")
    assert _sweeper_optimises()
