"""Every option of every config group composes, and the pieces it names can be built (each head
option by its HeadContract tester in tests/models/heads/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.conftest import CONF

GROUPS = ["dataset", "backbone", "head", "loss", "optimizer", "scheduler", "trainer", "logger", "callbacks"]
GROUPS += ["experiment", "debug", "paths", "hydra"]
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]


def test_every_group_has_options() -> None:
    for group in GROUPS:
        assert list((CONF / group).glob("*.yaml")), f"conf/{group}/ is empty"


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_resolves(make_cfg, group: str, option: str) -> None:
    # paths/ and hydra/ have a single option that every composition already includes
    cfg = make_cfg() if group in ("paths", "hydra") else make_cfg(f"{group}={option}")
    # resolving every interpolation catches typos in keys that only a real run would hit
    container = OmegaConf.to_container(cfg, resolve=True)
    assert container["dataset"]["num_classes"] == container["model"]["num_classes"]


@pytest.mark.parametrize("option", [p.stem for p in sorted((CONF / "backbone").glob("*.yaml"))])
def test_backbone_option_builds_at_output_stride_8(make_cfg, option: str) -> None:
    import torch

    backbone = instantiate(make_cfg(f"backbone={option}").backbone)
    assert backbone.output_stride == 8
    with torch.no_grad():
        features = backbone.eval()(torch.zeros(1, 3, 64, 64))
    assert features[-1].shape[-2:] == (8, 8)
    assert [f.shape[1] for f in features] == backbone.channels


def test_unknown_option_is_rejected_with_the_choices(make_cfg) -> None:
    with pytest.raises(ConfigCompositionException, match=r"head/no_such_head"):
        make_cfg("head=no_such_head")


def test_unknown_key_is_rejected(make_cfg) -> None:
    with pytest.raises(ConfigCompositionException, match="no_such_key"):
        make_cfg("trainer.no_such_key=1")


def test_paths_point_into_the_run_dir(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg()
    assert cfg.paths.output_dir == str(tmp_path)
    assert cfg.callbacks.model_checkpoint.dirpath == str(tmp_path / "checkpoints")
