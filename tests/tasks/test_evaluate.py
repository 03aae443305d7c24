"""eval.py: every inference mode against a confusion matrix computed here, W&B, the CLI, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig

import attnseg.tasks.evaluate as evaluate_module
from attnseg.inference.checkpoint import build_model, load_checkpoint, run_config
from attnseg.inference.modes import SegmentationInference
from attnseg.tasks.evaluate import evaluate, predict_batches
from attnseg.tasks.train import train
from tests.conftest import ROOT, TINY, compose_config

MODES = {
    "whole": [],
    "slide": ["inference.crop_size=[48,40]", "inference.stride=[16,24]"],
    "ms_flip_slide": ["inference.scales=[0.75,1.0]", "inference.flip=true", "inference.crop_size=[64,48]"],
}


def train_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Checkpoint of a tiny FCN model trained for one epoch; trained once per test session."""
    run_dir = tmp_path_factory.getbasetemp() / "tiny_run"
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        train(compose_config([*TINY, "head=fcn", "logger=none", "test=false"], run_dir))
        GlobalHydra.instance().clear()
    return ckpt


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


def test_sliding_window_covering_the_image_equals_whole_image(tiny_ckpt: Path) -> None:
    checkpoint = load_checkpoint(tiny_ckpt)
    model = build_model(run_config(checkpoint), checkpoint, tiny_ckpt)
    images = torch.rand(2, 3, 64, 56, generator=torch.Generator().manual_seed(0))
    whole = SegmentationInference()(model, images)
    for crop in ([64, 56], [80, 80]):
        assert torch.equal(SegmentationInference(crop_size=crop)(model, images), whole)


def test_overlapping_windows_are_averaged() -> None:
    # a per-pixel model sees no context, so any window layout must reproduce the whole image
    def pixelwise(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, -x], dim=1)

    images = torch.rand(1, 3, 50, 70)
    slid = SegmentationInference(crop_size=[32, 24], stride=[9, 7])(pixelwise, images)
    torch.testing.assert_close(slid, pixelwise(images))


def test_flip_tta_is_flip_consistent(tiny_ckpt: Path) -> None:
    checkpoint = load_checkpoint(tiny_ckpt)
    model = build_model(run_config(checkpoint), checkpoint, tiny_ckpt)
    tta = SegmentationInference(flip=True)
    half = torch.rand(1, 3, 40, 20, generator=torch.Generator().manual_seed(1))
    symmetric = torch.cat([half, half.flip(-1)], dim=-1)  # (1, 3, 40, 40), equal to its mirror image
    scores = tta(model, symmetric)
    torch.testing.assert_close(scores, scores.flip(-1), rtol=0, atol=1e-6)
    assert torch.equal(tta.predict(model, symmetric), tta.predict(model, symmetric).flip(-1))
    # on any image, flip-TTA of the mirror image is the mirror image of flip-TTA
    image = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(tta(model, image.flip(-1)), tta(model, image).flip(-1), rtol=0, atol=1e-6)


@pytest.mark.slow  # a CLI subprocess: `make test-slow`
def test_cli_eval_py_prints_the_table_and_writes_results_and_wandb_run(
    tiny_ckpt: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    result = subprocess.run(
        [sys.executable, "eval.py", f"ckpt_path={tiny_ckpt}", "split=val", f"hydra.run.dir={tmp_path}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
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


def test_missing_checkpoint_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"ckpt_path: no such file '.*nope\.ckpt'; expected a checkpoint"
    ):
        evaluate(eval_cfg(tmp_path / "nope.ckpt", tmp_path))


def test_corrupt_checkpoint_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match=r"ckpt_path: '.*bad\.ckpt' is not a readable PyTorch checkpoint"):
        evaluate(eval_cfg(bad, tmp_path))
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(ValueError, match=r"'.*other\.ckpt' has no 'state_dict' and 'attnseg_config' entries"):
        evaluate(eval_cfg(other, tmp_path))


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
