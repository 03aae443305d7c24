"""A real ``attnseg-train`` process killed (SIGKILL) or preempted (SIGTERM) mid-run, then resumed
with ``ckpt_path=last``, ends where the uninterrupted run ends: same weights, same metrics, same run
directory, same W&B run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import torch

from tests.cli import NUMBERED_JOBS, TRAIN, run_train
from tests.conftest import TINY

# 3 epochs of 16 steps, a head with dropout (the model's own RNG draws) and the W&B logger
RUN = [
    *TINY,
    "head=ccnet",
    "dataset.train.num_samples=64",
    "trainer.max_epochs=3",
    "logger=wandb",
    "callbacks.progress_bar=null",
]


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)[
        "state_dict"
    ]


def _wandb_ids(run_dir: Path) -> set[str]:
    return {p.name.rsplit("-", 1)[-1] for p in (run_dir / "wandb").glob("offline-run-*")}


class Run:
    """``attnseg-train`` in the background; its stderr lines are collected as they come."""

    def __init__(self, logs: Path) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
        self.proc = subprocess.Popen(
            [str(TRAIN), *RUN, f"paths.log_dir={logs}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stderr), daemon=True)
        self.reader.start()

    def wait_for(self, text: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.proc.poll() is None, "".join(self.lines)[-3000:]
            assert time.monotonic() < deadline, f"no {text!r} after {timeout} s"
            time.sleep(0.02)

    def signal(self, sig: int) -> int:
        os.killpg(self.proc.pid, sig)
        code = self.proc.wait(timeout=120)
        self.reader.join(timeout=10)
        return code


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    logs = tmp_path_factory.mktemp("uninterrupted")
    result = run_train(*RUN, f"paths.log_dir={logs}")
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = logs.glob("train/runs/*")
    return run_dir


def _assert_same_run(resumed: Path, reference: Path) -> None:
    ours, theirs = _weights(resumed), _weights(reference)
    assert ours.keys() == theirs.keys()
    differ = [k for k in ours if not torch.equal(ours[k], theirs[k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]}"
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (resumed, reference))
    for key in ("val/miou", "test/miou", "train/loss_epoch", "best_ckpt_score"):
        assert a[key] == b[key], key


@pytest.mark.slow
def test_sigkill_then_ckpt_path_last_ends_like_the_uninterrupted_run(
    uninterrupted: Path, tmp_path: Path
) -> None:
    run = Run(tmp_path)
    run.wait_for("epoch 1 val:")  # killed around the checkpoint of epoch 1: either side must resume exactly
    time.sleep(0.1)
    run.signal(signal.SIGKILL)
    (run_dir,) = tmp_path.glob("train/runs/*")
    assert not (run_dir / "metrics.json").exists()
    ids_before = _wandb_ids(run_dir)
    result = run_train(*RUN, f"paths.log_dir={tmp_path}", "ckpt_path=last")
    assert result.returncode == 0, result.stderr[-3000:]
    assert list(tmp_path.glob("train/runs/*")) == [run_dir], "the resumed run continues its own directory"
    assert _wandb_ids(run_dir) == ids_before and len(ids_before) == 1, "and its W&B run (same id)"
    _assert_same_run(run_dir, uninterrupted)


@pytest.mark.slow
def test_sigterm_saves_the_partial_epoch_exits_143_and_resumes_exactly(
    uninterrupted: Path, tmp_path: Path
) -> None:
    run = Run(tmp_path)
    run.wait_for("epoch 0 val:")
    time.sleep(0.3)  # a few of the 16 steps of epoch 1
    code = run.signal(signal.SIGTERM)
    stderr = "".join(run.lines)
    assert code == 143, stderr[-3000:]
    (run_dir,) = tmp_path.glob("train/runs/*")
    log = (run_dir / "train.log").read_text()
    assert "SIGTERM: stopped after step" in log and "Resume with ckpt_path=last" in log
    assert not (run_dir / "metrics.json").exists(), "an unfinished run: no final metrics"
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["SegDataModule"]["train_batches_done"] > 0, "the checkpoint holds the partial epoch"
    result = run_train(*RUN, f"paths.log_dir={tmp_path}", "ckpt_path=last")
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_same_run(run_dir, uninterrupted)


def test_ckpt_path_last_without_an_unfinished_run_is_named(make_cfg, tmp_path: Path) -> None:
    from attnseg.tasks.train import train

    with pytest.raises(
        FileNotFoundError, match=r"ckpt_path=last: no unfinished run to resume under .*train/runs"
    ):
        train(make_cfg("ckpt_path=last", "logger=none"))


@pytest.mark.slow
def test_multirun_resume_skips_finished_jobs_and_continues_the_others(tmp_path: Path) -> None:
    sweep = ["-m", *TINY, "head=fcn", "logger=none", "seed=0,1", f"hydra.sweep.dir={tmp_path}", NUMBERED_JOBS]
    first = run_train(*sweep)
    assert first.returncode == 0, first.stderr[-3000:]
    finished = (tmp_path / "0" / "metrics.json").read_text()
    (tmp_path / "1" / "metrics.json").unlink()  # job 1 as if killed after its last checkpoint
    again = run_train(*sweep, "ckpt_path=last", "trainer.max_epochs=2")
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "0" / "metrics.json").read_text() == finished, "a finished job is not trained again"
    resumed = torch.load(tmp_path / "1" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    # 8 images, batch 4: 2 steps an epoch; job 1 went on from its first epoch to the end of the second
    assert resumed["global_step"] == 4 and (tmp_path / "1" / "metrics.json").is_file()
