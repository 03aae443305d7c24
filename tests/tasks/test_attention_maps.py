"""Attention maps for every attention head, their math, the CLI, bad input; gamma logging."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from attnseg.data.synthetic import render_scene
from attnseg.models.attention.capture import attention_modules, capture_attention, is_spatial, query_row
from attnseg.tasks.attention_maps import attention_maps, main
from attnseg.tasks.train import train
from attnseg.training.callbacks import LogAttentionGamma
from tests.conftest import TINY, compose_config

# the conf/head options whose models have attention modules (add new attention heads here)
ATTENTION_HEADS = ["ccnet", "danet", "nonlocal", "self_attn"]


def fake_checkpoint(head: str, path: Path) -> Path:
    """An untrained model saved the way train.py saves one (weights + resolved config)."""
    cfg = compose_config([*TINY, f"head={head}"], path.parent)
    model = instantiate(cfg.model)
    for name, param in model.named_parameters():
        if name.endswith(".gamma"):  # switch attention on, as training would
            param.data.fill_(0.5)
    torch.save(
        {"state_dict": model.state_dict(), "attnseg_config": OmegaConf.to_container(cfg, resolve=True)}, path
    )
    return path


def scene(path: Path, size: int = 64) -> Path:
    image, _ = render_scene(np.random.default_rng(0), size)
    Image.fromarray(image).save(path)
    return path


def maps_cfg(ckpt: Path, image: Path, output: Path, *overrides: str):
    overrides = (f"ckpt_path={ckpt}", f"image={image}", f"output={output}", "logger=none", *overrides)
    return compose_config(list(overrides), output, config_name="attention_maps")


@pytest.mark.parametrize("head", ATTENTION_HEADS)
def test_every_attention_head_gets_a_picture(head: str, tmp_path: Path) -> None:
    ckpt = fake_checkpoint(head, tmp_path / f"{head}.ckpt")
    cfg = maps_cfg(ckpt, scene(tmp_path / "scene.png"), tmp_path / "out", "points=[[10,20],[40,50]]")
    (picture,) = attention_maps(cfg)
    assert picture == tmp_path / "out" / "scene_attention.png"
    rows = 3 if head == "danet" else 2  # a row per query pixel, plus one for the CAM matrix
    with Image.open(picture) as image:
        assert image.mode == "RGB" and rows * 256 < image.height < rows * 300


def test_model_without_attention_is_refused(tmp_path: Path) -> None:
    ckpt = fake_checkpoint("fcn", tmp_path / "fcn.ckpt")
    with pytest.raises(
        ValueError, match=r"fcn\.ckpt' \(attnseg.models.heads.FCNHead\) has no attention module"
    ):
        attention_maps(maps_cfg(ckpt, scene(tmp_path / "scene.png"), tmp_path / "out"))


@pytest.mark.parametrize("head", ATTENTION_HEADS)
def test_maps_are_attention_distributions(head: str, tmp_path: Path) -> None:
    model = instantiate(compose_config([*TINY, f"head={head}"], tmp_path).model).net.eval()
    modules = attention_modules(model)
    assert modules
    maps = capture_attention(model, torch.rand(1, 3, 64, 96))
    assert set(maps) == set(modules)
    for name, calls in maps.items():
        for attn, (h, w) in calls:
            torch.testing.assert_close(attn.sum(-1), torch.ones(attn.shape[:2]), atol=1e-4, rtol=0)
            if is_spatial(attn, (h, w), modules[name]):
                assert attn.shape == (1, h * w, h * w)
        if len(calls) > 1:  # a recurrent module: the effective map is the product of the passes
            per_pass = [a[0] for a, _ in calls]
            product = per_pass[0]
            for attn in per_pass[1:]:
                product = attn @ product
            torch.testing.assert_close(query_row(per_pass, 13), product[13])
    if head == "ccnet":  # one shared module, called `recurrence` times; each pass sees a cross
        (calls,) = maps.values()
        assert len(calls) == model.head.recurrence == 2
        attn, (h, w) = calls[0]
        y, x = divmod(13, w)
        cross = torch.zeros(h, w, dtype=torch.bool)
        cross[y, :] = cross[:, x] = True
        row = attn[0, 13].view(h, w)
        assert (row[~cross] == 0).all() and (row[cross] > 0).all()


def test_cli_module_logs_the_picture_to_wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = fake_checkpoint("ccnet", tmp_path / "model.ckpt")
    argv = [
        "attnseg-attention-maps",
        f"ckpt_path={ckpt}",
        f"image={scene(tmp_path / 'a.png', 80)}",
        "points=[[79,0]]",
    ]
    monkeypatch.setattr(sys, "argv", [*argv, "logger=wandb", f"hydra.run.dir={tmp_path / 'run'}"])
    GlobalHydra.instance().clear()
    main()  # the console script's entry point, with this command line
    assert (tmp_path / "run" / "a_attention.png").is_file()
    (run,) = (tmp_path / "run" / "wandb").glob("offline-run-*")
    assert list((run / "files" / "media" / "images" / "attention").glob("a_*.png"))


def test_query_outside_the_image_is_named(tmp_path: Path) -> None:
    ckpt = fake_checkpoint("self_attn", tmp_path / "model.ckpt")
    cfg = maps_cfg(ckpt, scene(tmp_path / "s.png"), tmp_path / "out", "points=[[64,0]]")
    with pytest.raises(
        ValueError, match=r"points: \[64, 0\] is not a \[y, x\] pixel of '.*s\.png' \(size 64x64\)"
    ):
        attention_maps(cfg)


def test_gamma_callback_logs_every_gamma(tmp_path: Path) -> None:
    cfg = compose_config([*TINY, "head=danet", "logger=csv", "test=false"], tmp_path)
    train(cfg)
    with open(tmp_path / "csv" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    gammas = [k for k in rows[0] if k.startswith("gamma/")]
    names = {
        n.removesuffix(".gamma") for n, _ in instantiate(cfg.model).named_parameters() if n.endswith(".gamma")
    }
    assert gammas and {g.removeprefix("gamma/") for g in gammas} == names
    assert sum(1 for row in rows if row[gammas[0]]) == 2  # 8 samples / batch 4: every step


def test_gamma_and_lr_land_on_every_row_the_logger_writes(tmp_path: Path) -> None:
    # logged only on the steps the logger writes (log_every_n_steps): none of them may be missed
    overrides = ["dataset.train.num_samples=32", "trainer.log_every_n_steps=2", "head=ccnet", "logger=csv"]
    train(compose_config([*TINY, *overrides, "test=false"], tmp_path))
    with open(tmp_path / "csv" / "version_0" / "metrics.csv") as f:
        steps = [row for row in csv.DictReader(f) if row["train/loss_step"]]
    assert len(steps) == 4  # 8 steps, every second one written
    assert all(row["gamma/net.head.attention"] and row["train/lr"] for row in steps)


def test_gamma_callback_is_a_no_op_without_attention(tmp_path: Path) -> None:
    callback = LogAttentionGamma()
    callback.on_fit_start(None, instantiate(compose_config([*TINY, "head=fcn"], tmp_path).model))
    assert callback.gammas == {}
