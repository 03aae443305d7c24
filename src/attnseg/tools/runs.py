"""The runs of a sweep as found on disk: each run's config, overrides, final metrics or failure,
and the runs grouped into rows that differ only by seed."""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

METRICS = {"val_miou": "val/miou", "test_miou": "test/miou", "images_per_s": "train/images_per_s"}


@dataclass
class Run:
    """One job of the sweep, as found on disk."""

    path: Path
    head: str
    backbone: str
    seed: int | None
    overrides: list[str]
    config: DictConfig | None
    metrics: dict[str, float]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and "val/miou" in self.metrics


@dataclass
class Row:
    """The runs of one configuration (all seeds), summarised."""

    head: str
    backbone: str
    variant: str
    runs: list[Run]
    stats: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (mean, std)
    cost: dict[str, float] = field(default_factory=dict)


def _last_values(csv_file: Path) -> dict[str, float]:
    """The last non-empty value of every column of a Lightning CSVLogger ``metrics.csv``."""
    values: dict[str, float] = {}
    with csv_file.open(newline="") as f:
        for line in csv.DictReader(f):
            values.update({k: float(v) for k, v in line.items() if k and v not in ("", None)})
    return values


def read_metrics(run_dir: Path) -> dict[str, float]:
    """Final metrics of a run: ``metrics.json``, else the CSV logger's, else the W&B summary."""
    if (run_dir / "metrics.json").is_file():
        return {k: float(v) for k, v in json.loads((run_dir / "metrics.json").read_text()).items()}
    csv_files = sorted(run_dir.glob("csv/version_*/metrics.csv"), key=lambda p: p.stat().st_mtime)
    if csv_files:
        return _last_values(csv_files[-1])
    summaries = sorted(run_dir.glob("wandb/*run-*/files/wandb-summary.json"))
    if summaries:
        summary = json.loads(summaries[-1].read_text())
        return {k: float(v) for k, v in summary.items() if isinstance(v, int | float)}
    return {}


def load_run(path: Path) -> Run:
    """Read a run directory written by ``train.py`` (config, overrides, metrics, failure)."""
    hydra_dir = path / ".hydra"
    overrides = [str(o) for o in yaml.safe_load((hydra_dir / "overrides.yaml").read_text()) or []]
    config_file = path / "config.yaml" if (path / "config.yaml").is_file() else hydra_dir / "config.yaml"
    config = OmegaConf.load(config_file) if config_file.is_file() else None
    choices = yaml.safe_load((hydra_dir / "hydra.yaml").read_text())["hydra"]["runtime"]["choices"]
    head = choices.get("head") or str(OmegaConf.select(config, "head._target_", default="?")).split(".")[-1]
    backbone = str(OmegaConf.select(config, "backbone.name", default=choices.get("backbone", "?")))
    seed = OmegaConf.select(config, "seed", default=None)
    error = None
    if (path / "failed.json").is_file():
        error = json.loads((path / "failed.json").read_text()).get("error", "failed")
    metrics = read_metrics(path)
    if error is None and "val/miou" not in metrics:
        error = "no metrics (still running, killed, or train=false)"
    return Run(path, head, backbone, seed, overrides, config, metrics, error)


def find_runs(root: Path) -> list[Run]:
    """Every run directory (one with ``.hydra/overrides.yaml``) under ``root``, in job order."""
    dirs = {p.parent.parent for p in root.rglob("overrides.yaml") if p.parent.name == ".hydra"}
    dirs = {d for d in dirs if ".submitit" not in d.parts}

    def job_order(d: Path) -> tuple:
        num = d.name.split("_", 1)[0]
        return (str(d.parent), int(num) if num.isdigit() else math.inf, d.name)

    return [load_run(d) for d in sorted(dirs, key=job_order)]


def _variant(run: Run, constant: set[str]) -> str:
    """The run's overrides that differ across the sweep, less the seed, head and backbone."""
    skip = ("seed=", "head=", "backbone=")
    return " ".join(o for o in run.overrides if o not in constant and not o.startswith(skip))


def summarize(runs: Sequence[Run]) -> list[Row]:
    """Group runs that differ only by seed and average each metric over the successful ones."""
    constant = set.intersection(*(set(r.overrides) for r in runs)) if runs else set()
    rows: dict[tuple[str, str, str], Row] = {}
    for run in runs:
        key = (run.head, run.backbone, _variant(run, constant))
        rows.setdefault(key, Row(*key, runs=[])).runs.append(run)
    for row in rows.values():
        for name, metric in METRICS.items():
            values = [r.metrics[metric] for r in row.runs if r.ok and metric in r.metrics]
            if values:
                std = statistics.stdev(values) if len(values) > 1 else math.nan
                row.stats[name] = (statistics.fmean(values), std)
    return list(rows.values())
