"""End-to-end: real Lightning fits through the Hydra config, checkpoints, resume, W&B offline."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
import torch

from attnseg.tasks.train import train
from tests.cli import run_command
from tests.conftest import TINY
from tests.wandb_records import read_records, summary_and_history


def test_fit_then_test_writes_checkpoints_and_metrics(make_cfg, tmp_path: Path) -> None:
    metrics = train(make_cfg("logger=csv", "trainer.max_epochs=2"))
    for key in ("val/miou", "test/miou", "val/acc", "test/iou_crate_red", "train/loss"):
        assert key in metrics, key
    assert 0.0 <= metrics["test/miou"] <= 1.0
    ckpts = {p.name for p in (tmp_path / "checkpoints").iterdir()}
    assert "last.ckpt" in ckpts and any(n.startswith("best-") for n in ckpts)
    assert (tmp_path / "config.yaml").is_file()
    assert (tmp_path / "csv" / "version_0" / "metrics.csv").read_text().count("val/miou") == 1
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["attnseg_config"]["backbone"]["name"] == "test_resnet"


def test_resume_from_checkpoint_continues_training(make_cfg, tmp_path: Path) -> None:
    train(
        make_cfg("logger=none", "head=fcn", "trainer.max_epochs=1", "test=false", output_dir=tmp_path / "a")
    )
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["epoch"] == 0
    cfg = make_cfg(
        "logger=none",
        "head=fcn",
        "trainer.max_epochs=2",
        "test=false",
        f"ckpt_path={last}",
        output_dir=tmp_path / "b",
    )
    train(cfg)
    resumed = torch.load(tmp_path / "b" / "checkpoints" / "last.ckpt", weights_only=False)
    assert resumed["epoch"] == 1
    # 8 samples / batch 4 = 2 steps per epoch: the resumed run did only the second epoch's steps
    assert resumed["global_step"] == 4


def test_same_seed_gives_same_metrics(make_cfg, tmp_path: Path) -> None:
    runs = [
        train(make_cfg("logger=none", "head=fcn", "seed=7", "test=false", output_dir=tmp_path / name))
        for name in "ab"
    ]
    assert runs[0]["val/miou"] == runs[1]["val/miou"]
    assert runs[0]["train/loss"] == runs[1]["train/loss"]
    other = train(make_cfg("logger=none", "head=fcn", "seed=8", "test=false", output_dir=tmp_path / "c"))
    assert other["train/loss"] != runs[0]["train/loss"]


def test_wandb_offline_run_dir_holds_the_metrics(make_cfg, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)  # offline must be the default, not the env's doing
    metrics = train(make_cfg("logger=wandb", "trainer.max_epochs=2"))
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, list((tmp_path / "wandb").iterdir())
    run_files = list(runs[0].glob("run-*.wandb"))
    assert len(run_files) == 1, "no offline W&B run file to sync"
    summary, history = summary_and_history(run_files[0])
    # the summary holds the final val/miou; the history one value per validation epoch
    assert summary["val/miou"] == pytest.approx(metrics["val/miou"])
    assert summary["test/miou"] == pytest.approx(metrics["test/miou"])
    assert len([row for row in history if "val/miou" in row]) == 2
    # and the run's config was logged
    configs = [r.config for r in read_records(run_files[0]) if r.WhichOneof("record_type") == "config"]
    assert {"backbone", "head", "dataset", "optimizer"} <= {item.key for c in configs for item in c.update}


@pytest.mark.slow
def test_cli_train_py_runs_and_prints_final_table(tmp_path: Path) -> None:
    result = run_command([sys.executable, "train.py", *TINY, "logger=csv", f"hydra.run.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Final metrics" in result.stdout
    assert "CONFIG" in result.stdout
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_debug_fast_dev_run_runs_every_loop_once(make_cfg) -> None:
    metrics = train(make_cfg("debug=fdr"))
    assert "val/miou" in metrics and "test/miou" in metrics


def test_overfit_one_batch_drives_the_loss_down(make_cfg, tmp_path: Path) -> None:
    train(make_cfg("debug=overfit", "head=fcn", "trainer.max_epochs=10", "optimizer.lr=0.003"))
    rows = list(csv.DictReader((tmp_path / "csv" / "version_0" / "metrics.csv").open()))
    losses = [float(r["train/loss_epoch"]) for r in rows if r.get("train/loss_epoch")]
    assert len(losses) == 10
    assert losses[-1] < 0.5 * losses[0], losses
