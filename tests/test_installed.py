"""The package works installed from a wheel, away from the source checkout (configs included)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY

RUN_TRAIN = "import sys; from attnseg.tasks.train import main; sys.argv[0] = 'attnseg-train'; main()"


@pytest.mark.slow
def test_wheel_trains_from_another_directory(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("attnseg-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    assert (site / "attnseg" / "conf" / "train.yaml").is_file(), "conf/ ships inside the wheel"
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    where = subprocess.run(
        [sys.executable, "-c", "import attnseg.config.compose as c; print(c.conf_dir())"],
        cwd=work, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert Path(where.stdout.strip()) == site / "attnseg" / "conf"
    result = subprocess.run(
        [sys.executable, "-c", RUN_TRAIN, *TINY, "debug=fdr", "logger=none", "head=fcn"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert list((work / "logs" / "debug" / "runs").glob("*/config.yaml")), (
        "the run wrote into the launch directory"
    )
