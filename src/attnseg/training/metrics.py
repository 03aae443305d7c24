"""Segmentation metrics (torchmetrics), one collection per split."""

from __future__ import annotations

import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex


def segmentation_metrics(num_classes: int, ignore_index: int) -> MetricCollection:
    """mIoU (classes absent from both prediction and target are left out of the mean, as in the
    Cityscapes / mmseg convention), per-class IoU, pixel accuracy and mean class accuracy.

    All four share one confusion-matrix state (torchmetrics compute groups).
    """
    common = {"num_classes": num_classes, "ignore_index": ignore_index, "validate_args": False}
    return MetricCollection(
        {
            "miou": MulticlassJaccardIndex(average="macro", **common),
            "iou": MulticlassJaccardIndex(average="none", **common),
            "acc": MulticlassAccuracy(average="micro", **common),
            "macc": MulticlassAccuracy(average="macro", **common),
        }
    )


def train_metrics(num_classes: int, ignore_index: int) -> MetricCollection:
    """The training split's metrics: mIoU and per-class IoU only (one confusion matrix).

    They hold only what the training logs show: the two accuracies of
    :func:`segmentation_metrics` would cost two more stat-score updates per scored step (~4 ms at
    batch 4 x 64 x 320 on a CPU core) for figures that validation already gives. The module scores
    only the steps the logger writes (and each epoch's last), a sample of the epoch.
    """
    metrics = segmentation_metrics(num_classes, ignore_index)
    return MetricCollection({name: metrics[name] for name in ("miou", "iou")})


def flatten_metrics(results: dict[str, torch.Tensor], class_names: list[str]) -> dict[str, float]:
    """Turn ``{"val/iou": tensor[K], "val/miou": tensor}`` into scalar entries (``val/iou_<name>``)."""
    flat: dict[str, float] = {}
    for key, value in results.items():
        if value.numel() == 1:
            flat[key] = value.item()
        else:
            for name, v in zip(class_names, value.tolist(), strict=True):
                flat[f"{key}_{name}"] = v
    return flat
