"""What :mod:`attnseg.tools.report` writes: the CSV tables and the plot."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from attnseg.tools.runs import Row, Run


def write_csv(rows: Sequence[Row], runs: Sequence[Run], out: Path) -> None:
    """``report.csv`` (one line per row, numbers unrounded) and ``report_runs.csv`` (per run)."""
    cost_keys = ["params", "head_params", "gflops", "head_gflops", "head_peak_mib", "latency_ms"]
    cost_keys += ["step_ms_per_image", "model_peak_mib"]
    with (out / "report.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        stats = ["val_miou", "test_miou", "images_per_s"]
        writer.writerow(
            ["head", "backbone", "overrides", "runs", "ok_runs"]
            + [f"{s}_{m}" for s in stats for m in ("mean", "std")]
            + cost_keys
        )
        for row in rows:
            values = [v for s in stats for v in row.stats.get(s, (math.nan, math.nan))]
            costs = [row.cost.get(k, math.nan) for k in cost_keys]
            ok = sum(r.ok for r in row.runs)
            writer.writerow([row.head, row.backbone, row.variant, len(row.runs), ok, *values, *costs])
    with (out / "report_runs.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", "head", "backbone", "seed", "val_miou", "test_miou", "images_per_s", "error"])
        for run in runs:
            metrics = [run.metrics.get(k, math.nan) for k in ("val/miou", "test/miou", "train/images_per_s")]
            writer.writerow([run.path.name, run.head, run.backbone, run.seed, *metrics, run.error or ""])


def _label(row: Row) -> str:
    variant = f" {row.variant}" if row.variant else ""
    return f"{row.head}/{row.backbone}{variant}"[:40]


def write_plot(rows: Sequence[Row], path: Path) -> None:
    """mIoU (mean, std over seeds) against the head's GFLOPs and against its peak memory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = "test_miou" if any("test_miou" in r.stats for r in rows) else "val_miou"
    points = [r for r in rows if metric in r.stats and r.cost]
    axes_spec = [("head_gflops", "head GFLOPs"), ("head_peak_mib", "head peak memory (MiB)")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), squeeze=False)
    for ax, (key, xlabel) in zip(axes[0], axes_spec, strict=True):
        for row in points:
            mean, std = row.stats[metric]
            yerr = None if math.isnan(std) else 100 * std
            ax.errorbar(row.cost[key], 100 * mean, yerr=yerr, fmt="o", capsize=3)
            ax.annotate(_label(row), (row.cost[key], 100 * mean), textcoords="offset points", xytext=(4, 4))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{metric.replace('_miou', '')} mIoU (%)")
        ax.grid(alpha=0.3)
    if not points:
        axes[0][0].set_title("no runs with both metrics and costs")
    fig.suptitle("mIoU vs decode-head cost (mean ± std over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
