"""Shared fixtures: Hydra configs composed exactly as `python train.py` composes them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from attnseg.config.compose import compose

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# A run of a few seconds: tiny timm backbone, 64 px images, a handful of samples.
TINY = [
    "backbone=test_resnet",
    "dataset.batch_size=4",
    "dataset.val_batch_size=4",
    "dataset.train.num_samples=8",
    "dataset.train.image_size=64",
    "dataset.val.num_samples=4",
    "dataset.test.num_samples=4",
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "trainer.log_every_n_steps=1",
    "trainer.num_sanity_val_steps=0",
]


def compose_config(overrides: list[str], output_dir: Path, config_name: str = "train") -> DictConfig:
    """Compose conf/<config_name>.yaml with overrides, with Hydra's runtime fields set (as a run has)."""
    return compose(config_name, overrides, output_dir=output_dir, cwd=output_dir)


@pytest.fixture
def single_thread():
    """Tiny tensors: a second intra-op thread only adds sync overhead, and stalls badly on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """``make_cfg(*overrides, tiny=True)``: a composed config writing into ``tmp_path``."""

    def _make(*overrides: str, tiny: bool = True, output_dir: Path | None = None) -> DictConfig:
        return compose_config([*(TINY if tiny else []), *overrides], output_dir or tmp_path)

    yield _make
    GlobalHydra.instance().clear()
