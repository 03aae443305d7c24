"""Evaluate a checkpoint: ``evaluate(cfg)`` reads top to bottom; ``attnseg-eval`` (or ``python eval.py``) runs it.

Results: mIoU, pixel accuracy, mean class accuracy, per-class IoU / accuracy and the confusion
matrix, printed, logged, and written to ``eval_results.json`` and ``confusion_matrix.png`` in
the run directory.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rich
import rich.progress
import rich.table
import torch
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger, WandbLogger
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from torch.utils.data import DataLoader
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from attnseg.config.printing import print_config_tree
from attnseg.inference.checkpoint import build_model, check_num_classes, load_checkpoint
from attnseg.inference.device import pick_device
from attnseg.inference.modes import Model, SegmentationInference
from attnseg.tasks.hydra_app import hydra_app, merge_with_checkpoint
from attnseg.training.loggers import build_loggers, close_loggers, log_image
from attnseg.training.metrics import segmentation_metrics
from attnseg.viz.confusion import confusion_matrix_image

log = logging.getLogger(__name__)
SPLITS = ("val", "test")


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate ``cfg.ckpt_path`` on ``cfg.split``; returns what ``eval_results.json`` holds."""
    checkpoint = load_checkpoint(cfg.ckpt_path)
    cfg = merge_with_checkpoint(cfg, checkpoint)
    check_num_classes(cfg, cfg.ckpt_path)
    if cfg.split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {cfg.split!r}")
    output_dir = Path(cfg.paths.output_dir)
    datamodule = instantiate(cfg.dataset)
    loader = datamodule.val_dataloader() if cfg.split == "val" else datamodule.test_dataloader()
    device = pick_device(cfg.device)
    model = build_model(cfg, checkpoint, cfg.ckpt_path).to(device)
    inference: SegmentationInference = instantiate(cfg.inference)
    loggers = build_loggers(cfg)
    print_config_tree(cfg, save_to=output_dir / "config.yaml")

    metrics = segmentation_metrics(datamodule.num_classes, datamodule.ignore_index)
    common = {"num_classes": datamodule.num_classes, "ignore_index": datamodule.ignore_index}
    metrics.add_metrics(
        {
            "class_acc": MulticlassAccuracy(average="none", validate_args=False, **common),
            "confmat": MulticlassConfusionMatrix(validate_args=False, **common),
        }
    )
    metrics = metrics.to(device)
    num_images = 0
    for preds, masks in predict_batches(model, inference, loader, device):
        metrics.update(preds, masks)
        num_images += len(preds)

    results = summarise(metrics.compute(), datamodule.class_names)
    results = {"checkpoint": str(cfg.ckpt_path), "split": cfg.split, "num_images": num_images, **results}
    results["inference"] = inference.settings()
    save_results(results, datamodule.class_names, output_dir)
    print_results(results, datamodule.class_names)
    try:
        log_results(loggers, results, cfg, output_dir / "confusion_matrix.png")
    finally:
        close_loggers(loggers)
    log.info(f"Results in {output_dir}")
    return results


def run(cfg: DictConfig) -> float:
    """Evaluate a checkpoint (see conf/eval.yaml); returns the mIoU, for sweepers."""
    return evaluate(cfg)["miou"]


main = hydra_app("eval", run)


def predict_batches(
    model: Model, inference: SegmentationInference, loader: DataLoader, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(predicted labels, true labels)`` per batch, with a progress bar."""
    for images, masks in rich.progress.track(loader, description="Evaluating", total=len(loader)):
        yield inference.predict(model, images.to(device)), masks.to(device)


def summarise(values: dict[str, torch.Tensor], class_names: Sequence[str]) -> dict[str, Any]:
    """Plain-number results. Per-class values are ``None`` where they are undefined: IoU of a class
    in neither prediction nor ground truth, accuracy of a class absent from the ground truth.

    The means are torchmetrics': over the classes present in the ground truth or the predictions.
    A class that is only predicted counts with IoU 0 and accuracy 0; mmseg's mAcc leaves it out.
    """
    confmat = values["confmat"].cpu().numpy().astype(np.int64)  # rows: true class, columns: predicted
    in_target = confmat.sum(axis=1) > 0
    in_either = in_target | (confmat.sum(axis=0) > 0)
    per_class = {
        name: {
            "iou": float(iou) if in_either[k] else None,
            "acc": float(acc) if in_target[k] else None,
            "pixels": int(confmat[k].sum()),
        }
        for k, (name, iou, acc) in enumerate(
            zip(class_names, values["iou"].tolist(), values["class_acc"].tolist(), strict=True)
        )
    }
    return {
        "miou": values["miou"].item(),
        "acc": values["acc"].item(),
        "macc": values["macc"].item(),
        "per_class": per_class,
        "confusion_matrix": confmat.tolist(),
    }


def save_results(results: dict[str, Any], class_names: Sequence[str], output_dir: Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "eval_results.json").write_text(json.dumps(results, indent=2) + "\n")
    image = confusion_matrix_image(np.asarray(results["confusion_matrix"]), class_names)
    image.save(output_dir / "confusion_matrix.png")


def print_results(results: dict[str, Any], class_names: Sequence[str]) -> None:
    table = rich.table.Table(title=f"{results['split']} ({results['num_images']} images)")
    for column in ("class", "IoU", "acc", "pixels"):
        table.add_column(column, justify="left" if column == "class" else "right")
    fmt = lambda v: "-" if v is None or math.isnan(v) else f"{100 * v:.2f}"  # noqa: E731
    for name in class_names:
        row = results["per_class"][name]
        table.add_row(name, fmt(row["iou"]), fmt(row["acc"]), str(row["pixels"]))
    table.add_section()
    table.add_row("mIoU / mAcc", fmt(results["miou"]), fmt(results["macc"]), "", style="bold")
    table.add_row("pixel acc", "", fmt(results["acc"]), "", style="bold")
    rich.print(table)


def log_results(loggers: list[Logger], results: dict[str, Any], cfg: DictConfig, confmat_png: Path) -> None:
    split = results["split"]
    scalars = {f"{split}/{k}": results[k] for k in ("miou", "acc", "macc")}
    for name, row in results["per_class"].items():
        if row["iou"] is not None:
            scalars[f"{split}/iou_{name}"] = row["iou"]
    rows = [[name, row["iou"], row["acc"], row["pixels"]] for name, row in results["per_class"].items()]
    for logger in loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
        logger.log_metrics(scalars)
        log_image([logger], f"{split}/confusion_matrix", Image.open(confmat_png))
        if isinstance(logger, WandbLogger):  # the only logger here with tables
            logger.log_table(f"{split}/per_class", columns=["class", "iou", "acc", "pixels"], data=rows)
