"""Results table of a sweep: ``attnseg-report logs/train/multiruns/<time>``.

One row per head x backbone (x any other override that varies across the sweep's runs), over
the seeds: mean +/- std of val and test mIoU, training throughput (``train/images_per_s``, from
:class:`attnseg.training.callbacks.TrainThroughput`), and the decode head's cost at a fixed input
(``--size``): parameters, forward GFLOPs (:mod:`attnseg.tools.model_cost`) and the peak memory of one
training forward + backward of the head alone, on the GPU when there is one (``--device``; the
rules of :mod:`attnseg.tools.measure`: on CUDA the allocator's peak, on the CPU the tensor count).
Writes ``report.md``, ``report.csv`` (one line per row), ``report_runs.csv`` (one line per run)
and ``report.png`` (mIoU vs head cost) next to the runs (or to ``--out``), and logs the table
and the plot to W&B (offline unless ``WANDB_MODE=online``; ``--no-wandb`` skips it). Runs that
failed (``failed.json``, see :mod:`attnseg.training.sweep`) or left no metrics are counted and
listed, never averaged in.

A run's final metrics are read from ``metrics.json``, else from the CSV logger
(``csv/version_*/metrics.csv``), else from the offline W&B summary.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from attnseg.tools.report_files import write_csv, write_plot
from attnseg.tools.runs import Row, find_runs, summarize


def head_costs(row: Row, size: int, device: str) -> dict[str, float]:
    """At one ``size`` x ``size`` input: params and GFLOPs (whole model and head), the head's training
    peak memory, and the whole model's training step (ms per image, batch 1; its peak memory with
    the weights and optimizer state)."""
    import torch
    from hydra.utils import instantiate

    from attnseg.tools.cost import head_cost
    from attnseg.tools.memory import peak_training_memory
    from attnseg.tools.training_step import measure_training_step

    # a successful run's config is fully resolved (config.yaml); a failed one may not be
    config = next((r.config for r in sorted(row.runs, key=lambda r: not r.ok) if r.config), None)
    if config is None:
        return {}
    model_cfg = OmegaConf.to_container(config.model, resolve=True)
    model_cfg["net"]["backbone"].update(pretrained=False, weights=None)  # costs do not depend on weights
    torch.manual_seed(0)
    module = instantiate(model_cfg).to(device)
    net = module.net
    cost = head_cost(net, size, repeats=1, device=device)
    with torch.no_grad():
        features = net.backbone(torch.rand(1, 3, size, size, device=device))
    cost["head_peak_mib"] = peak_training_memory(net.head, net.head_input(features))
    images = torch.rand(1, 3, size, size, device=device)
    masks = torch.randint(0, config.dataset.num_classes, (1, size, size), device=device)
    step = measure_training_step(module, images, masks, warmup=1, repeats=3)
    cost["step_ms_per_image"], cost["model_peak_mib"] = step["ms_per_image"], step["peak_mib"]
    return cost


def _fmt(stat: tuple[float, float] | None, scale: float = 1.0, digits: int = 2) -> str:
    if stat is None:
        return "-"
    mean, std = stat
    text = f"{mean * scale:.{digits}f}"
    return text if math.isnan(std) else f"{text} ± {std * scale:.{digits}f}"


def to_markdown(rows: Sequence[Row], size: int, device: str = "cpu") -> str:
    """The table (mIoU in %, over seeds), then the failed runs."""
    show_variant = any(r.variant for r in rows)
    header = ["head", "backbone", *(["overrides"] if show_variant else []), "runs", "val mIoU (%)"]
    header += ["test mIoU (%)", "head params (M)", "head GFLOPs", "head peak mem (MiB)"]
    header += ["train step (ms/img)", "model peak mem (MiB)", "train img/s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---|" * show_variant + "---:|" * 9]
    for row in rows:
        ok = sum(r.ok for r in row.runs)
        runs = f"{ok}/{len(row.runs)}"
        c = row.cost
        cells = [row.head, row.backbone, *([row.variant or "-"] if show_variant else []), runs]
        cells += [_fmt(row.stats.get("val_miou"), 100), _fmt(row.stats.get("test_miou"), 100)]
        cells += [f"{c['head_params'] / 1e6:.2f}" if c else "-", f"{c['head_gflops']:.2f}" if c else "-"]
        cells += [f"{c['head_peak_mib']:.1f}" if c else "-"]
        cells += [f"{c['step_ms_per_image']:.0f}" if c.get("step_ms_per_image") else "-"]
        cells += [f"{c['model_peak_mib']:.0f}" if c.get("model_peak_mib") else "-"]
        cells += [_fmt(row.stats.get("images_per_s"), 1, 1)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"mean ± std over seeds; runs: successful/total. Costs for one {size}x{size} image on "
        f"{device}: head GFLOPs (forward) and head peak memory (forward + backward of the head "
        "alone); train step: the whole model's forward, loss, backward and optimizer step (median "
        "of 3), its peak memory with the weights and optimizer state (attnseg.tools.training_step)."
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


def _device(name: str) -> str:
    """``--device``, resolved by the benchmarks' rules; torch loads only here (``--help`` stays fast)."""
    from attnseg.tools.measure import device_option

    return device_option(name)


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
    parser.add_argument(
        "--device",
        type=_device,
        default="auto",
        help="device for the head costs: auto (default: the GPU when there is one), cpu or cuda[:i]",
    )
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
    markdown = to_markdown(rows, args.size, args.device)
    (out / "report.md").write_text(markdown)
    write_csv(rows, runs, out)
    write_plot(rows, out / "report.png")
    if not args.no_wandb:
        log_to_wandb(rows, markdown, out, args.sweep_dir.resolve().name)
    print(markdown)
    print(f"Wrote {out / 'report.md'}, report.csv, report_runs.csv and report.png")
    return rows


def cli() -> None:
    """Console-script entry point (``[project.scripts]``): ``main`` on the command line's arguments."""
    main(sys.argv[1:])


if __name__ == "__main__":
    cli()
