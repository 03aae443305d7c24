"""evaluate(cfg): every inference mode against a confusion matrix computed here, W&B, the CLI, bad
input. The inference layer it uses: tests/inference/."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

import attnseg.tasks.evaluate as evaluate_module
from attnseg.inference.checkpoint import build_model, load_checkpoint, run_config
from attnseg.tasks.evaluate import evaluate, predict_batches
from tests.checkpoints import train_tiny
from tests.cli import run_command
from tests.conftest import compose_config

MODES = {
    "whole": [],
    "slide": ["inference.crop_size=[48,40]", "inference.stride=[16,24]"],
    "ms_flip_slide": ["inference.scales=[0.75,1.0]", "inference.flip=true", "inference.crop_size=[64,48]"],
}


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory)


@pytest.fixture(scope="module")
def varied_ckpt(tiny_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny checkpoint with a random classifier centred on the mean feature. After one epoch
    the model predicts nearly only background, which would leave most of the confusion matrix
    untested."""
    checkpoint = load_checkpoint(tiny_ckpt)
    model = build_model(run_config(checkpoint), checkpoint, tiny_ckpt)
    classifier = model.net.head.classifier
    seen = []
    classifier.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    with torch.no_grad():
        model(torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    mean_feature = seen[0].mean(dim=(0, 2, 3))  # (C,)
    weight = torch.randn(classifier.weight.shape, generator=torch.Generator().manual_seed(0))
    checkpoint["state_dict"]["net.head.classifier.weight"] = weight
    checkpoint["state_dict"]["net.head.classifier.bias"] = -weight.flatten(1) @ mean_feature
    path = tmp_path_factory.mktemp("varied") / "varied.ckpt"
    torch.save(checkpoint, path)
    return path


def eval_cfg(ckpt: Path, output_dir: Path, *overrides: str) -> DictConfig:
    return compose_config([f"ckpt_path={ckpt}", "logger=none", *overrides], output_dir, config_name="eval")


def direct_metrics(predictions: list[tuple[torch.Tensor, torch.Tensor]], num_classes: int) -> dict:
    """Straightforward numpy confusion matrix and metrics of ``(predicted, true)`` label batches."""
    k = num_classes
    confmat = np.zeros((k, k), np.int64)
    for preds, masks in predictions:
        valid = masks != 255
        confmat += np.bincount(k * masks[valid].numpy() + preds[valid].numpy(), minlength=k * k).reshape(k, k)
    diag, true, pred = np.diag(confmat), confmat.sum(1), confmat.sum(0)
    union = true + pred - diag
    return {
        "confusion_matrix": confmat,
        "miou": (diag / np.maximum(union, 1))[union > 0].mean(),
        "acc": diag.sum() / confmat.sum(),
        # torchmetrics' macro accuracy: over the classes in the target or the predictions, so a
        # class that is only predicted counts with accuracy 0 (mmseg's mAcc would leave it out)
        "macc": (diag / np.maximum(true, 1))[union > 0].mean(),
    }


@pytest.mark.parametrize("mode", list(MODES))
def test_eval_metrics_equal_a_direct_confusion_matrix(
    varied_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    predictions = []

    def recording(*args):
        for preds, masks in predict_batches(*args):
            predictions.append((preds.clone(), masks.clone()))
            yield preds, masks

    monkeypatch.setattr(evaluate_module, "predict_batches", recording)
    cfg = eval_cfg(varied_ckpt, tmp_path, *MODES[mode])
    results = evaluate(cfg)
    expected = direct_metrics(predictions, num_classes=6)
    np.testing.assert_array_equal(results["confusion_matrix"], expected["confusion_matrix"])
    assert (expected["confusion_matrix"].sum(0) > 0).sum() >= 3, "predictions should span several classes"
    for key in ("miou", "acc", "macc"):
        assert results[key] == pytest.approx(expected[key], rel=1e-5), key
    assert results["num_images"] == 4
    assert results["inference"] == {k: v for k, v in instantiate(cfg.inference).settings().items()}
    assert json.loads((tmp_path / "eval_results.json").read_text()) == json.loads(json.dumps(results))
    assert (tmp_path / "confusion_matrix.png").is_file()


@pytest.mark.slow  # a CLI subprocess: `make test-slow`
def test_cli_eval_py_prints_the_table_and_writes_results_and_wandb_run(
    tiny_ckpt: Path, tmp_path: Path
) -> None:
    result = run_command(
        [sys.executable, "eval.py", f"ckpt_path={tiny_ckpt}", "split=val", f"hydra.run.dir={tmp_path}"]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mIoU / mAcc" in result.stdout and "crate_blue" in result.stdout
    results = json.loads((tmp_path / "eval_results.json").read_text())
    assert results["split"] == "val" and results["num_images"] == 4
    assert set(results["per_class"]) == {"background", "disk", "square", "beacon", "crate_red", "crate_blue"}
    assert (tmp_path / "confusion_matrix.png").is_file() and (tmp_path / "config.yaml").is_file()
    (run,) = (tmp_path / "wandb").glob("offline-run-*")
    assert list((run / "files" / "media" / "images" / "val").glob("confusion_matrix_*.png"))
    (table,) = (run / "files" / "media" / "table" / "val").glob("per_class_*.table.json")
    assert json.loads(table.read_text())["columns"] == ["class", "iou", "acc", "pixels"]
    (events,) = run.glob("*.wandb")  # the offline event log that `wandb sync` uploads
    assert all(key in events.read_bytes() for key in (b"val/miou", b"val/macc", b"val/iou_disk"))


def test_checkpoint_for_other_classes_is_rejected(tiny_ckpt: Path, tmp_path: Path) -> None:
    overrides = [
        "+dataset.num_classes=3",
        "+dataset.class_names=[a,b,c]",
        "+dataset.palette=[[0,0,0],[1,1,1],[2,2,2]]",
    ]
    with pytest.raises(ValueError, match=r"last\.ckpt' was trained for 6 classes .* but the dataset has 3"):
        evaluate(eval_cfg(tiny_ckpt, tmp_path, *overrides))


def test_dataset_keys_override_the_trained_config(tiny_ckpt: Path, tmp_path: Path) -> None:
    results = evaluate(
        eval_cfg(tiny_ckpt, tmp_path, "+dataset.test.num_samples=2", "+dataset.val_batch_size=1")
    )
    assert results["num_images"] == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["split=train"], r"split must be one of \('val', 'test'\), got 'train'"),
        (
            ["inference.crop_size=[32,32]", "inference.stride=[40,40]"],
            r"inference.stride \[40, 40\] is larger",
        ),
        (["inference.scales=[]"], r"inference.scales must be a non-empty list of positive numbers"),
    ],
)
def test_bad_eval_settings_are_named(
    tiny_ckpt: Path, tmp_path: Path, overrides: list[str], message: str
) -> None:
    with pytest.raises(Exception, match=message):
        evaluate(eval_cfg(tiny_ckpt, tmp_path, *overrides))
