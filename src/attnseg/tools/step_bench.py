"""Whole training steps of each head at the paper setting: ResNet-101, 769 x 769 crops, batch 1-2.

``attnseg-step-bench`` (``make bench-gpu``) builds each head's model, loss and optimizer as
``attnseg-train experiment=cityscapes_769 backbone=<--backbone> head=<head>`` would (19 classes,
output stride 8, the recipe's auxiliary head, OHEM cross-entropy over every output with the
training weights, SGD with momentum; ``--presets``: the head's own paper preset,
``experiment=cityscapes_<head>_r101``, where there is one), and times whole training steps on
random images and masks: forward, loss, backward, SGD step. One row per head, batch size, dtype
and eager/compile: median ms per step and per image after ``--warmup`` steps (the first one timed
on its own: optimizer state, and the compilation of a compiled row), and the peak memory of the
step (:class:`~attnseg.tools.memory.PeakMemory`, above what was held before it) and of the
process (that plus the weights, buffers, optimizer state and batch held before it; on CUDA the
allocator's peak). Rules shared with ``attnseg-bench``: :mod:`attnseg.tools.measure`.

Each head runs in a fresh subprocess per eager/compile and dtype, its batch sizes in increasing
order; a batch that runs out of memory is a row that says OOM, and so are the larger ones.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from hydra.utils import instantiate

from attnseg.config.compose import compose, conf_dir
from attnseg.tools.measure import (
    DTYPES,
    EXECUTIONS,
    device_option,
    emit,
    is_out_of_memory,
    machine,
    release,
    run_workers,
    write_results,
)
from attnseg.tools.training_step import measure_training_step

HEADS = ("fcn", "ccnet", "danet", "nonlocal", "self_attn")
FIELDS = ["head", "backbone", "size", "batch", "dtype", "exec", "device", "params", "time_median_s",
          "time_min_s", "ms_per_image", "first_step_s", "step_peak_mib", "peak_mib", "logits_dtype", "status"]  # fmt: skip


def overrides(head: str, backbone: str, presets: bool = False, extra: tuple[str, ...] = ()) -> list[str]:
    """The ``attnseg-train`` overrides of one head's model (randomly initialised)."""
    preset = f"cityscapes_{head}_r101"
    if presets and (conf_dir() / "experiment" / f"{preset}.yaml").exists():
        chosen = [f"experiment={preset}"]
    else:
        chosen = ["experiment=cityscapes_769", f"head={head}", f"backbone={backbone}"]
    return [*chosen, "backbone.pretrained=false", "backbone.weights=null", *extra]


def _identity(spec: dict, dtype: str, batch: int) -> dict:
    keys = ("head", "size", "exec", "device")
    return {**{k: spec[k] for k in keys}, "batch": batch, "dtype": dtype}


def _expected(spec: dict) -> list[dict]:
    return [_identity(spec, spec["dtype"], batch) for batch in sorted(spec["batch_sizes"])]


def rows(spec: dict, measure: Callable[[dict, int], dict] | None = None) -> Iterator[dict]:
    """The rows of one spec, a batch size each; after an OOM the larger batches are not tried."""
    measure = measure or _measure
    device = torch.device(spec["device"])
    out_of_memory = False
    for row in _expected(spec):
        if not out_of_memory:
            try:
                row.update(measure(spec, row["batch"]), status="ok")
            except (RuntimeError, torch.OutOfMemoryError) as err:
                if not is_out_of_memory(err):
                    raise
                out_of_memory = True
            if out_of_memory:  # out of the except block, whose traceback held the step's tensors
                release(device)
        if out_of_memory:
            row["status"] = "OOM"
        yield row


def _measure(spec: dict, batch: int) -> dict:
    """Times and peak memory of the training step of one head at one batch size."""
    device, dtype = torch.device(spec["device"]), spec["dtype"]
    release(device)  # what the previous row left
    torch.manual_seed(0)
    cfg = compose("train", spec["overrides"])
    with device:  # initialised where it runs: a GPU initialises ResNet-101 in a fraction of the CPU's time
        module = instantiate(cfg.model).to(device).train()  # a SegmentationModule: loss, optimizer
    size = spec["size"]
    images = torch.rand(batch, 3, size, size, device=device)
    masks = torch.randint(0, cfg.dataset.num_classes, (batch, size, size), device=device)
    measured = measure_training_step(
        module,
        images,
        masks,
        dtype=dtype,
        execution=spec["exec"],
        warmup=spec["warmup"],
        repeats=spec["repeats"],
    )
    return {
        "backbone": cfg.backbone.name,
        "params": sum(p.numel() for p in module.net.parameters()),
        **measured,
    }


def _worker(spec: dict) -> None:
    for row in rows(spec):
        emit(row)


def _specs(args: argparse.Namespace) -> list[dict]:
    """Eager rows first, so that a time budget spent on compilation leaves them measured."""
    specs = []
    for execution in sorted(set(args.compile), key=EXECUTIONS.index):
        for dtype in args.dtype:
            specs += [{"head": head, "overrides": overrides(head, args.backbone, args.presets, tuple(args.overrides)),
                       "size": args.size, "batch_sizes": args.batch_sizes, "dtype": dtype, "exec": execution,
                       "device": args.device, "repeats": args.repeats, "warmup": args.warmup}
                      for head in args.heads]  # fmt: skip
    return specs


def _cell(value: float | None, scale: float = 1.0, digits: int = 0) -> str:
    return "-" if value in (None, "") else f"{float(value) * scale:.{digits}f}"


def to_markdown(results: list[dict], args: argparse.Namespace, command: str) -> str:
    device = torch.device(args.device)
    lines = [
        f"# Training-step benchmark: {args.size} x {args.size} crops, {device.type}",
        "",
        f"Machine: {machine(device)}.",
        f"Model: `attnseg-train {' '.join(overrides('<head>', args.backbone, args.presets, tuple(args.overrides)))}`"
        f"{' (paper presets where there is one)' if args.presets else ''}. Step: forward, loss over every output, "
        f"backward, SGD step; ms: median of {args.repeats} steps after {args.warmup} warm-up steps "
        "(first step s: the first of them, the compilation of a compiled row included); bf16: autocast, "
        "fp32 weights; step MiB: peak above what was held before the step (attnseg.tools.memory.PeakMemory); "
        "total MiB: that plus the weights, optimizer state and batch held (CUDA: the allocator's peak); "
        f"- for a compiled step on the CPU. Command: `attnseg-step-bench {command}`",
        "",
        "| head | backbone | B | dtype | exec | params (M) | ms/step | ms/image | step MiB | total MiB | first step s |",
        "|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    order = {head: i for i, head in enumerate(args.heads)}
    for r in sorted(results, key=lambda r: (order[r["head"]], r["exec"] != "eager", r["dtype"], r["batch"])):
        cells = [r["head"], r.get("backbone") or args.backbone, str(r["batch"]), r["dtype"], r["exec"]]
        if r["status"] == "ok":
            cells += [_cell(r["params"], 1e-6, 1), _cell(r["time_median_s"], 1e3), _cell(r["ms_per_image"])]
            cells += [_cell(r["step_peak_mib"]), _cell(r["peak_mib"]), _cell(r["first_step_s"], digits=1)]
        else:
            cells += ["-", r["status"], "-", "-", "-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides, as for attnseg-train")
    parser.add_argument("--heads", nargs="+", default=list(HEADS), help="conf/head options")
    parser.add_argument("--backbone", default="resnet101d", help="conf/backbone option (default: resnet101d)")
    parser.add_argument("--presets", action="store_true", help="each head's paper preset where there is one")
    parser.add_argument("--size", type=int, default=769, help="crop side in pixels (default: 769)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--device", type=device_option, default="auto", help="auto (default), cpu or cuda[:i]"
    )
    parser.add_argument("--dtype", nargs="+", choices=DTYPES, default=["fp32"], help="bf16: autocast")
    parser.add_argument("--compile", nargs="+", choices=EXECUTIONS, default=["eager"],
                        help="eager (default), compile (torch.compile) or both: a row each")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=5, help="timed steps (default: 5)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="steps before them; the first is timed alone, as first_step_s (default: 2)",
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds per subprocess")
    parser.add_argument("--time-budget", type=float, default=None,
                        help="seconds for the whole run; heads not started by then are reported as skipped")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="write <name>.md and <name>.csv here")
    parser.add_argument(
        "--name", default="step_bench", help="file name of --out's files (default: step_bench)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> list[dict]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_intermixed_args(argv)
    if args.worker:
        _worker(json.loads(args.worker))
        return []
    if args.warmup < 1 or args.repeats < 1:
        raise SystemExit("attnseg-step-bench: --warmup and --repeats must be at least 1")
    results = []
    specs = _specs(args)
    workers = run_workers(
        "attnseg.tools.step_bench", specs, _expected, timeout=args.timeout, budget=args.time_budget
    )
    for r in workers:
        results.append(r)
        figures = (
            f"{r['time_median_s'] * 1e3:.0f} ms/step, {_cell(r['peak_mib'])} MiB"
            if r["status"] == "ok"
            else r["status"]
        )
        print(f"{r['head']} B={r['batch']} {r['dtype']} {r['exec']}: {figures}", flush=True)
    markdown = to_markdown(results, args, " ".join(argv))
    print(markdown)
    if args.out:
        write_results(args.out, args.name, markdown, results, FIELDS)
    return results


def cli() -> None:
    """Console-script entry point (``[project.scripts]``): ``main`` on the command line's arguments."""
    main(sys.argv[1:])


if __name__ == "__main__":
    cli()
