"""Results table of a sweep: ``python -m attnseg.report logs/train/multiruns/<time>``.

One row per head x backbone (x any other override that varies across the sweep's runs), over
the seeds: mean +/- std of val and test mIoU, training throughput (``train/images_per_s``, from
:class:`attnseg.throughput.TrainThroughput`), and the decode head's cost at a fixed input
(``--size``): parameters, forward GFLOPs (:mod:`attnseg.model_cost`) and the peak memory of one
training forward + backward of the head alone. Writes ``report.md``, ``report.csv`` (one line
per row), ``report_runs.csv`` (one line per run) and ``report.png`` (mIoU vs head cost) next to
the runs (or to ``--out``), and logs the table and the plot to W&B (offline unless
``WANDB_MODE=online``; ``--no-wandb`` skips it). Runs that failed (``failed.json``, see
:mod:`attnseg.sweep`) or left no metrics are counted and listed, never averaged in.

A run's final metrics are read from ``metrics.json``, else from the CSV logger
(``csv/version_*/metrics.csv``), else from the offline W&B summary.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

from attnseg.report_io import read_metrics, write_csv, write_plot

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


def head_costs(row: Row, size: int, device: str) -> dict[str, float]:
    """Params, GFLOPs (whole model and head) and the head's training peak memory at ``size``."""
    import torch
    from hydra.utils import instantiate

    from attnseg.memory import peak_training_memory
    from attnseg.model_cost import head_cost

    # a successful run's config is fully resolved (config.yaml); a failed one may not be
    config = next((r.config for r in sorted(row.runs, key=lambda r: not r.ok) if r.config), None)
    if config is None:
        return {}
    net_cfg = OmegaConf.to_container(config.model.net, resolve=True)
    net_cfg["backbone"].update(pretrained=False, weights=None)  # costs do not depend on weights
    net = instantiate(net_cfg).to(device)
    cost = head_cost(net, size, repeats=1, device=device)
    with torch.no_grad():
        features = net.backbone(torch.rand(1, 3, size, size, device=device))
    cost["head_peak_mib"] = peak_training_memory(net.head, features if net.multi_level else features[-1])
    return cost


def _fmt(stat: tuple[float, float] | None, scale: float = 1.0, digits: int = 2) -> str:
    if stat is None:
        return "-"
    mean, std = stat
    text = f"{mean * scale:.{digits}f}"
    return text if math.isnan(std) else f"{text} ± {std * scale:.{digits}f}"


def to_markdown(rows: Sequence[Row], size: int) -> str:
    """The table (mIoU in %, over seeds), then the failed runs."""
    show_variant = any(r.variant for r in rows)
    header = ["head", "backbone", *(["overrides"] if show_variant else []), "runs", "val mIoU (%)"]
    header += ["test mIoU (%)", "head params (M)", "head GFLOPs", "head peak mem (MiB)", "train img/s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---|" * show_variant + "---:|" * 7]
    for row in rows:
        ok = sum(r.ok for r in row.runs)
        runs = f"{ok}/{len(row.runs)}"
        c = row.cost
        cells = [row.head, row.backbone, *([row.variant or "-"] if show_variant else []), runs]
        cells += [_fmt(row.stats.get("val_miou"), 100), _fmt(row.stats.get("test_miou"), 100)]
        cells += [f"{c['head_params'] / 1e6:.2f}" if c else "-", f"{c['head_gflops']:.2f}" if c else "-"]
        cells += [f"{c['head_peak_mib']:.1f}" if c else "-", _fmt(row.stats.get("images_per_s"), 1, 1)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"mean ± std over seeds; runs: successful/total. Head cost for one {size}x{size} image "
        "(GFLOPs: forward; peak memory: forward + backward of the head alone)."
    )
    failed = [r for row in rows for r in row.runs if not r.ok]
    if failed:
        lines += ["", "Failed runs:", ""]
        lines += [f"- `{r.path.name}`: {r.error}" for r in failed]
    return "\n".join(lines) + "\n"


def log_to_wandb(rows: Sequence[Row], markdown: str, out: Path, name: str) -> None:
    """One W&B run (job_type ``report``) in the sweep's group: report.csv as a table, the plot."""
    import wandb

    config = next((r.config for row in rows for r in row.runs if r.config is not None), None)
    wandb_cfg = OmegaConf.select(config, "logger.wandb", default=None) or {}
    with (out / "report.csv").open(newline="") as f:
        header, *lines = list(csv.reader(f))
    data = [[_number(value) for value in line] for line in lines]
    run = wandb.init(
        project=wandb_cfg.get("project", "attnseg"),
        group=wandb_cfg.get("group", name),
        name=f"report-{name}",
        job_type="report",
        dir=str(out),
        mode=os.environ.get("WANDB_MODE", "offline"),
    )
    try:
        run.log({"report/table": wandb.Table(columns=header, data=data)})
        run.log({"report/miou_vs_cost": wandb.Image(str(out / "report.png"))})
        run.summary["report/markdown"] = markdown
    finally:
        run.finish()


def _number(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (or any folder of runs)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: sweep_dir)")
    parser.add_argument("--size", type=int, default=512, help="square input side for the head costs")
    parser.add_argument("--device", default="cpu", help="device for the head costs (cpu, cuda)")
    parser.add_argument("--no-cost", action="store_true", help="skip the head costs")
    parser.add_argument("--no-wandb", action="store_true", help="do not log the table to W&B")
    args = parser.parse_args(argv)
    runs = find_runs(args.sweep_dir)
    if not runs:
        parser.error(f"no run directories (with .hydra/overrides.yaml) under {args.sweep_dir}")
    out = args.out or args.sweep_dir
    out.mkdir(parents=True, exist_ok=True)
    rows = summarize(runs)
    if not args.no_cost:
        for row in rows:
            row.cost = head_costs(row, args.size, args.device)
    markdown = to_markdown(rows, args.size)
    (out / "report.md").write_text(markdown)
    write_csv(rows, runs, out)
    write_plot(rows, out / "report.png")
    if not args.no_wandb:
        log_to_wandb(rows, markdown, out, args.sweep_dir.resolve().name)
    print(markdown)
    print(f"Wrote {out / 'report.md'}, report.csv, report_runs.csv and report.png")
    return rows


if __name__ == "__main__":
    main()
