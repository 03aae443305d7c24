"""`python train.py dataset=<name> dataset.root=<tree>` fits on every layout; the throughput script runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from attnseg.tools.loader_throughput import main as throughput
from tests.cli import run_command
from tests.data.layouts import make_ade20k, make_cityscapes, make_folder, make_voc

BUILDERS = {"cityscapes": make_cityscapes, "voc": make_voc, "ade20k": make_ade20k, "folder": make_folder}
# a seconds-long run: tiny backbone, 32 px crops of images resized to a 32 px shorter side
SMALL = [
    "backbone=test_resnet",
    "dataset.batch_size=2",
    "dataset.val_batch_size=1",
    "dataset.num_workers=0",
    "dataset.pin_memory=false",
    "dataset.train.image_size=32",
    "dataset.train.transforms.crop_size=[32,32]",
    "trainer.max_epochs=1",
    "trainer.accelerator=cpu",
    "trainer.log_every_n_steps=1",
    "trainer.num_sanity_val_steps=0",
    # torchmetrics' deterministic-mode bincount allocates pixels x classes^2: slow at 150 classes
    "trainer.deterministic=false",
]
# the folder tree's index masks hold classes 0..2
FOLDER_CLASSES = [
    "dataset.num_classes=3",
    "dataset.class_names=[sky,road,car]",
    "dataset.palette=[[0,0,0],[1,1,1],[2,2,2]]",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BUILDERS))
def test_cli_fit_on_each_layout(tmp_path: Path, name: str) -> None:
    root = BUILDERS[name](tmp_path / "data")
    run_dir = tmp_path / "run"
    extra = FOLDER_CLASSES if name == "folder" else []
    command = [sys.executable, "train.py", f"dataset={name}", f"dataset.root={root}", *SMALL, *extra]
    result = run_command([*command, "logger=csv", f"hydra.run.dir={run_dir}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Final metrics" in result.stdout and (run_dir / "checkpoints" / "last.ckpt").is_file()
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["dataset"]["root"] == str(root)
    assert config["model"]["num_classes"] == config["dataset"]["num_classes"]
    # the metrics saw every class of the dataset: one per-class IoU column each
    header = (run_dir / "csv" / "version_0" / "metrics.csv").read_text().splitlines()[0]
    assert header.count("test/iou_") == config["dataset"]["num_classes"]


def test_throughput_script_reports_loader_and_model(tmp_path: Path, capsys) -> None:
    root = make_folder(tmp_path / "data", counts={"train": 4, "val": 1})
    overrides = [
        "dataset=folder",
        f"dataset.root={root}",
        *SMALL,
        *FOLDER_CLASSES,
        "--batches=1",
        "--steps=1",
    ]
    result = throughput(overrides)
    out = capsys.readouterr().out
    assert result["loader_images_per_s"] > 0 and result["model_images_per_s"] > 0
    assert "loader" in out and "model step" in out and "images/s" in out and "-bound" in out
