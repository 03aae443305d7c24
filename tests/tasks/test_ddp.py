"""Real 2-process DDP fits on CPU (gloo) through `python train.py`, alone and inside a multirun."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.cli import NUMBERED_JOBS, SWEEP_CALLBACK, run_train
from tests.conftest import TINY

# 8 training images, batch 4: one optimizer step per epoch on each of the 2 ranks (2 without DDP).
# The throughput callback reduces across ranks at epoch end: it once deadlocked DDP (see it).
DDP = [
    *TINY,
    "trainer=ddp_cpu",
    "logger=csv",
    "callbacks.throughput.warmup_steps=0",
]


def _assert_one_set_of_results(run_dir: Path) -> None:
    """Both ranks trained in this directory; only rank zero wrote checkpoints and metrics."""
    assert (run_dir / "train_ddp_process_1.log").is_file(), "rank 1 did not run in the run directory"
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert len(checkpoints) == 2 and "last.ckpt" in checkpoints, checkpoints
    assert [p.name for p in (run_dir / "csv").iterdir()] == ["version_0"]
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == 1  # the 8 images were split between the two ranks
    metrics = (run_dir / "csv" / "version_0" / "metrics.csv").read_text()
    assert metrics.count("\n") > 1 and "train/images_per_s" in metrics.splitlines()[0]


@pytest.mark.slow
def test_ddp_fit_on_two_cpu_processes(tmp_path: Path) -> None:
    result = run_train(*DDP, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in output and "GLOBAL_RANK: 1, MEMBER: 2/2" in output
    _assert_one_set_of_results(tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".hydra")] == [".hydra"]


@pytest.mark.slow
def test_ddp_jobs_of_a_multirun_each_get_their_own_ranks(tmp_path: Path) -> None:
    result = run_train(
        "-m", *DDP, "test=false", "seed=0,1", f"hydra.sweep.dir={tmp_path}", NUMBERED_JOBS, SWEEP_CALLBACK
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (result.stdout + result.stderr).count("GLOBAL_RANK: 1, MEMBER: 2/2") == 2
    for job in ("0", "1"):
        _assert_one_set_of_results(tmp_path / job)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["0", "1"]
