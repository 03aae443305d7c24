"""A tiny trained checkpoint for the tests of the commands and the inference layer."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

from attnseg.tasks.train import train
from tests.conftest import TINY, compose_config


def train_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Checkpoint of a tiny FCN model trained for one epoch; trained once per test session."""
    run_dir = tmp_path_factory.getbasetemp() / "tiny_run"
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        train(compose_config([*TINY, "head=fcn", "logger=none", "test=false"], run_dir))
        GlobalHydra.instance().clear()
    return ckpt
