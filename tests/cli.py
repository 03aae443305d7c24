"""Commands in a subprocess: ``attnseg-train ...`` (the console script) for the sweep, launcher, DDP
and resume tests, and the root aliases (``train.py``, ``eval.py``) for theirs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

TRAIN = Path(sys.executable).with_name("attnseg-train")  # installed next to the interpreter

# Registers the failed-job marker and DDP-in-multirun handling (attnseg.training.sweep); `++` keeps the
# override valid once conf/hydra/default.yaml lists the callback itself.
SWEEP_CALLBACK = "++hydra.callbacks.sweep._target_=attnseg.training.sweep.SweepCallback"
# job directories named by number only: the TINY overrides would make too long a folder name
NUMBERED_JOBS = "hydra.sweep.subdir=${hydra.job.num}"


def run_train(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``attnseg-train args``."""
    return run_command([str(TRAIN), *args], timeout=timeout)


def run_command(command: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``command`` from the repository root, offline; on timeout kill its whole process group
    (DDP ranks too)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        raise AssertionError(f"{command[:2]} ran past {timeout} s:\n{stderr[-3000:]}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
