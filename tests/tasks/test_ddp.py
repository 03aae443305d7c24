"""Real 2-process DDP fits on CPU (gloo) through `attnseg-train`: alone, inside a multirun, and as
2 nodes x 1 process over loopback."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
import torch

from tests.cli import NUMBERED_JOBS, SWEEP_CALLBACK, TRAIN, run_train
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
    """Both ranks trained (global step 1 of 8 images); only rank zero wrote into the directory."""
    assert not list(run_dir.glob("*ddp_process*")), "ranks > 0 write no log into the run directory"
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_over_loopback_train_together_and_only_node_0_writes(tmp_path: Path) -> None:
    # what a user types on each machine: the same command with trainer.num_nodes, and its NODE_RANK
    port = _free_port()
    args = [*DDP, "trainer.devices=1", "trainer.num_nodes=2", f"hydra.run.dir={tmp_path}"]
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WANDB_MODE": "offline"}
    nodes = [
        subprocess.Popen(
            [str(TRAIN), *args],
            env={**env, "NODE_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[1][-3000:] + outputs[0][-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in outputs[1]
    assert "CONFIG" in outputs[0] and "CONFIG" not in outputs[1], "node 1 printed the config"
    log = (tmp_path / "train.log").read_text()
    assert log.count("Building datamodule") == 1, "node 1 wrote into the run's log"
    _assert_one_set_of_results(tmp_path)
