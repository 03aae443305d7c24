"""The Cityscapes paper presets: each composes, its resolved recipe is the row of the docs table
(docs/experiments.md, "Paper presets vs the authors' recipes"), and each trains a few steps on the
miniature Cityscapes tree with a tiny backbone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from attnseg.tasks.train import train
from tests.conftest import CONF, ROOT
from tests.data.layouts import make_cityscapes

PRESETS = [
    f"cityscapes_{head}_{depth}" for head in ("ccnet", "danet", "nonlocal") for depth in ("r50", "r101")
]
DOCS = ROOT / "docs" / "experiments.md"
SECTION = "### Paper presets vs the authors' recipes"
COLUMNS = ("preset", "backbone", "crop", "batch", "iterations", "LR", "weight decay", "head LR x", "OHEM",
           "scale, colour", "head options", "aux head", "loss weights", "val every")  # fmt: skip
HEAD_KEYS = ("channels", "dropout")  # the same in every preset: not in the table
MakeCfg = Callable[..., DictConfig]


def _g(value: float) -> str:
    return f"{value:g}"


def _options(node: DictConfig, skip: tuple[str, ...] = ()) -> str:
    """``key value`` for a head's options, an activation factory as ``leaky <slope>``."""
    parts = []
    for key, value in node.items():
        if key.startswith("_") or key in skip:
            continue
        if isinstance(value, DictConfig):  # act_layer: {_target_: torch.nn.LeakyReLU, negative_slope}
            leaky = value._target_ == "torch.nn.LeakyReLU"
            value = f"leaky {_g(value.negative_slope)}" if leaky else value._target_
        parts.append(f"{key} {str(value).lower() if isinstance(value, bool) else value}")
    return ", ".join(parts)


def recipe(preset: str, cfg: DictConfig) -> dict[str, str]:
    """The docs table's row of ``preset``, read from its resolved config."""
    transforms, aux, loss = cfg.dataset.train.transforms, cfg.model.net.aux_head, cfg.loss
    outputs = ["out", *(["aux"] if aux is not None else [])]
    if "DANetHead" in cfg.head._target_:
        outputs += ["pam", "cam"]
    low, high = transforms.ratio_range
    colour = "none" if transforms.photometric is None else transforms.photometric._target_.rpartition(".")[2]
    cells = (
        preset,
        cfg.backbone.name,
        "x".join(map(str, transforms.crop_size)),
        str(cfg.dataset.batch_size * cfg.trainer.devices),
        str(cfg.trainer.max_steps),
        _g(cfg.optimizer.lr),
        _g(cfg.optimizer.weight_decay),
        _g(cfg.model.head_lr_mult),
        "none" if loss.ohem_thresh is None else f"{_g(loss.ohem_thresh)} / {loss.min_kept}",
        f"{_g(low)}-{_g(high)}, {colour}",
        _options(cfg.head, HEAD_KEYS),
        "none" if aux is None else _options(aux),
        ", ".join(f"{name} {_g(cfg.model.loss_weights.get(name, 1.0))}" for name in outputs),
        str(cfg.trainer.val_check_interval),
    )
    return dict(zip(COLUMNS, cells, strict=True))


def docs_table() -> dict[str, dict[str, str]]:
    """The first table after SECTION in docs/experiments.md, by preset."""
    lines = DOCS.read_text().split(SECTION, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| preset |"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(COLUMNS, cells, strict=True))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    assert tuple(header) == COLUMNS, header
    return rows


def test_every_paper_preset_has_a_row_and_nothing_else_does() -> None:
    assert sorted(docs_table()) == sorted(PRESETS)
    assert sorted(p.stem for p in (CONF / "experiment").glob("cityscapes_*_r*.yaml")) == sorted(PRESETS)


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_resolves_to_its_docs_row(make_cfg: MakeCfg, preset: str) -> None:
    assert recipe(preset, make_cfg(f"experiment={preset}", tiny=False)) == docs_table()[preset]


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_trains_a_few_steps_on_the_miniature_tree(
    make_cfg: MakeCfg, tmp_path: Path, preset: str
) -> None:
    root = make_cityscapes(tmp_path / "data", {"train": 2, "val": 1})
    cfg = make_cfg(
        f"experiment={preset}",
        f"dataset.root={root}",
        "backbone.name=test_resnet",
        "backbone.pretrained=false",
        "trainer=cpu",
        "trainer.devices=1",
        "trainer.max_steps=2",
        "trainer.val_check_interval=2",
        "trainer.log_every_n_steps=1",
        "trainer.num_sanity_val_steps=0",
        "trainer.deterministic=false",
        "dataset.batch_size=2",
        "dataset.num_workers=0",
        "dataset.pin_memory=false",
        "dataset.persistent_workers=false",
        "dataset.train.transforms.crop_size=[64,64]",
        "logger=none",
        # CCNet's fixed 512-wide bottleneck and auxiliary head take seconds on a tiny backbone
        *(["head.bottleneck_channels=32", "model.net.aux_head.channels=32"] if "ccnet" in preset else []),
        tiny=False,
    )
    metrics = train(cfg)
    assert torch.isfinite(torch.as_tensor(metrics["train/loss"]))
    assert 0.0 <= float(metrics["test/miou"]) <= 1.0
