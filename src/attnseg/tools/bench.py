"""Benchmark of the attention modules against naive formulations, at the CCNet setting.

``attnseg-bench`` (``make bench ARGS="..."``): for each module, forward (inference,
``no_grad``) and forward+backward (training step, upstream gradient given) time and peak memory,
parameters and matmul FLOPs, on 512 x 97 x 97 features (a 769 x 769 crop at stride 8). On the
GPU when there is one (``--device auto``), in fp32 and/or bf16 autocast (``--dtype``), eager
and/or under ``torch.compile`` (``--compile``): one row per combination.

Every module runs in a fresh subprocess (one per case, batch size and eager/compile, every dtype
in it). FLOPs: one eager step counted by ``FlopCounterMode`` (which misses in-place
``addmm_``/``baddbmm_`` unless told, so they are mapped too); for an eager row that step is also
the warm-up, a compiled row has a warm-up step of its own (the compilation, its time in
``compile_s``). Then ``--repeats`` timed steps. Memory: one more step measured by the project's
memory meter, :class:`attnseg.tools.memory.PeakMemory` (the peak of the tensors the step
allocates above what was held before it: module, input and upstream gradient excluded; output,
saved tensors and gradients included; the CUDA allocator's peak on a GPU; none for a compiled
step on the CPU, see :mod:`attnseg.tools.measure`, which also holds the other rules).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from attnseg.tools.bench_cases import BASELINE, CASES, FLOORS
from attnseg.tools.measure import (
    DTYPES,
    EXECUTIONS,
    autocast,
    device_option,
    emit,
    is_out_of_memory,
    machine,
    meter_sees,
    release,
    run_workers,
    time_steps,
    write_results,
)
from attnseg.tools.memory import PeakMemory


def _addmm_flops(bias_shape, a_shape, b_shape, out_shape=None, **kwargs) -> int:
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]


def _baddbmm_flops(bias_shape, a_shape, b_shape, out_shape=None, **kwargs) -> int:
    return 2 * a_shape[0] * a_shape[1] * a_shape[2] * b_shape[2]


# FlopCounterMode knows addmm / baddbmm but not their in-place forms
IN_PLACE_FLOPS = {torch.ops.aten.addmm_: _addmm_flops, torch.ops.aten.baddbmm_: _baddbmm_flops}


MODES = ("fwd", "fwd+bwd")
# the CSV's columns: those of the first (CPU, fp32, eager) version, then the later ones
FIELDS = ["case", "batch", "device", "size", "channels", "repeats", "mode", "params", "gflops",
          "time_min_s", "time_median_s", "peak_mib", "dtype", "exec", "compile_s", "status"]  # fmt: skip


def _identity(spec: dict, dtype: str, mode: str) -> dict:
    """The fields that name a row."""
    keys = ("case", "batch", "device", "size", "channels", "repeats", "exec")
    return {**{k: spec[k] for k in keys}, "dtype": dtype, "mode": mode}


def _expected(spec: dict) -> list[dict]:
    return [_identity(spec, dtype, mode) for dtype in spec["dtypes"] for mode in MODES]


def rows(spec: dict, measure: Callable[[dict, str, bool], dict] | None = None) -> Iterator[dict]:
    """The rows of one case at one batch size: every dtype, both modes; OOM ends a row, not the case."""
    measure = measure or _measure
    for row in _expected(spec):
        try:
            row.update(measure(spec, row["dtype"], row["mode"] == "fwd+bwd"), status="ok")
        except (RuntimeError, torch.OutOfMemoryError) as err:
            if not is_out_of_memory(err):
                raise
            row["status"] = "OOM"
        if row["status"] == "OOM":  # out of the except block, whose traceback held the step's tensors
            release(torch.device(spec["device"]))
        yield row


def _worker(spec: dict) -> None:
    for row in rows(spec):
        emit(row)


def _measure(spec: dict, dtype: str, train: bool) -> dict:
    """FLOPs (eager), times and peak memory of one step (see the module docstring)."""
    device = torch.device(spec["device"])
    release(device)  # what the previous row left
    step, eager_step, params = _prepare(spec, dtype, train)
    with FlopCounterMode(display=False, custom_mapping=IN_PLACE_FLOPS) as counter:
        eager_step()  # also the warm-up of an eager row
    compile_s = time_steps(step, 1, device)[0] if spec["exec"] == "compile" else None
    times = time_steps(step, spec["repeats"], device)
    peak_mib = None
    if meter_sees(device, spec["exec"]):
        with PeakMemory(device) as memory:
            step()
        peak_mib = memory.peak_mib
    return {"params": params, "gflops": counter.get_total_flops() / 1e9, "time_min_s": min(times),
            "time_median_s": statistics.median(times), "peak_mib": peak_mib, "compile_s": compile_s}  # fmt: skip


def _prepare(spec: dict, dtype: str, train: bool) -> tuple[Callable[[], None], Callable[[], None], int]:
    """The step closure (inference or training) of one row, its eager twin, the parameter count."""
    torch.manual_seed(0)
    device = torch.device(spec["device"])
    module = CASES[spec["case"]][0](spec["channels"]).to(device).train(train)
    for name, p in module.named_parameters():  # a live attention branch, as after training
        if name == "gamma" or name.startswith("norm."):
            nn.init.constant_(p, 0.5)
    forward = CASES[spec["case"]][1](module)
    shape = (spec["batch"], spec["channels"], spec["size"], spec["size"])
    x = torch.randn(shape, device=device, requires_grad=train)
    grad = torch.randn(shape, device=device) if train else None

    def make_step(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def step() -> None:
            if train:
                with autocast(device, dtype):
                    out = fn(x)
                out.backward(grad)  # outside autocast, as recommended
                x.grad = None
                module.zero_grad(set_to_none=True)
            else:
                with torch.no_grad(), autocast(device, dtype):
                    fn(x)

        return step

    compiled = forward
    if spec["exec"] == "compile":
        torch._dynamo.reset()  # a fresh cache per row: no recompile limit shared across rows
        compiled = torch.compile(forward, dynamic=False)
    return make_step(compiled), make_step(forward), sum(p.numel() for p in module.parameters())


def _ok(r: dict | None) -> bool:
    return r is not None and r.get("status", "ok") == "ok"


def _mib(r: dict) -> str:
    return "-" if r.get("peak_mib") in (None, "") else f"{float(r['peak_mib']):.0f}"


def _table(results: list[dict]) -> list[str]:
    by_key = {(r["case"], r["batch"], r["dtype"], r["exec"], r["mode"]): r for r in results}
    compiled = any(r["exec"] == "compile" for r in results)
    lines = [
        "| module | B | dtype | exec | params | GFLOP fwd | GFLOP fwd+bwd | fwd ms | fwd MiB | fwd+bwd ms "
        "| fwd+bwd MiB | fwd+bwd speed-up vs seed | fwd+bwd memory saving vs seed |"
        + (" compile s fwd / fwd+bwd |" if compiled else ""),
        "|---|---:|---|---|" + "---:|" * (9 + compiled),
    ]
    order = {case: i for i, case in enumerate(CASES)}
    combos = dict.fromkeys((r["batch"], r["case"], r["exec"], r["dtype"]) for r in results)
    for batch, case, execution, dtype in sorted(combos, key=lambda c: (c[0], order[c[1]])):
        fwd, train = (by_key.get((case, batch, dtype, execution, m)) for m in MODES)
        seed = by_key.get((BASELINE, batch, dtype, execution, "fwd+bwd"))
        with_params = next((r for r in (fwd, train) if _ok(r)), None)
        cells = [case, str(batch), dtype, execution]
        cells.append(f"{with_params['params'] / 1e6:.2f} M" if with_params else "-")
        cells += [f"{r['gflops']:.1f}" if _ok(r) else "-" for r in (fwd, train)]
        for r in (fwd, train):
            if _ok(r):
                cells += [f"{r['time_min_s'] * 1e3:.0f}", _mib(r)]
            else:
                cells += [r["status"] if r else "-", "-"]
        if _ok(train) and _ok(seed):
            cells.append(f"{seed['time_min_s'] / train['time_min_s']:.1f}x")
            memory = _mib(seed) != "-" and _mib(train) != "-"
            cells.append(f"{seed['peak_mib'] / train['peak_mib']:.1f}x" if memory else "-")
        else:
            cells += ["-", "-"]
        if compiled:
            cells.append(" / ".join(f"{r['compile_s']:.1f}" if _ok(r) and r.get("compile_s") else "-"
                                    for r in (fwd, train)))  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _floors(results: list[dict]) -> list[str]:
    by_key = {(r["case"], r["batch"], r["dtype"], r["exec"], r["mode"]): r for r in results}
    seed = by_key.get((BASELINE, 1, "fp32", "eager", "fwd+bwd"))
    lines = []
    for case, (memory_floor, speed_floor) in FLOORS.items():
        r = by_key.get((case, 1, "fp32", "eager", "fwd+bwd"))
        if not (_ok(seed) and _ok(r)):
            continue
        memory, speed = seed["peak_mib"] / r["peak_mib"], seed["time_min_s"] / r["time_min_s"]
        ok = memory >= memory_floor and speed >= speed_floor
        lines.append(
            f"- {case}: {memory:.1f}x less peak memory (floor {memory_floor:g}x), {speed:.2f}x faster "
            f"(floor {speed_floor:g}x): {'PASS' if ok else 'FAIL'}"
        )
    return lines


def _specs(args: argparse.Namespace) -> list[dict]:
    """Eager rows first, so that a time budget spent on compilation leaves them measured."""
    specs = []
    for execution in sorted(set(args.compile), key=EXECUTIONS.index):
        cases = args.cases if execution == "eager" else [c for c in args.cases if c in args.compile_cases]
        for batch in args.batch_sizes:
            specs += [{"case": case, "batch": batch, "device": args.device, "size": args.size,
                       "channels": args.channels, "repeats": args.repeats, "exec": execution,
                       "dtypes": args.dtype} for case in cases]  # fmt: skip
    return specs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device", type=device_option, default="auto", help="auto (default), cpu or cuda[:i]"
    )
    parser.add_argument("--dtype", nargs="+", choices=DTYPES, default=["fp32"], help="bf16: autocast")
    parser.add_argument("--compile", nargs="+", choices=EXECUTIONS, default=["eager"],
                        help="eager (default), compile (torch.compile) or both: a row each")  # fmt: skip
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--size", type=int, default=97, help="feature height = width")
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per case (after 1 warm-up)")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--compile-cases", nargs="+", choices=list(CASES), default=list(CASES),
                        help="the cases of --cases that also run compiled (default: all)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=None, help="seconds per subprocess")
    parser.add_argument("--time-budget", type=float, default=None,
                        help="seconds for the whole run; cases not started by then are reported as skipped")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="write <name>.md and <name>.csv here")
    parser.add_argument("--name", default="benchmark", help="file name of --out's files (default: benchmark)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> list[dict]:
    args = _parser().parse_args(argv)
    if args.worker:
        _worker(json.loads(args.worker))
        return []
    device = torch.device(args.device)
    load_before = os.getloadavg()
    results = []
    rows = run_workers(
        "attnseg.tools.bench", _specs(args), _expected, timeout=args.timeout, budget=args.time_budget
    )
    for r in rows:
        results.append(r)
        figures = f"{r['time_min_s'] * 1e3:.0f} ms, {_mib(r)} MiB" if _ok(r) else r["status"]
        print(f"{r['case']} B={r['batch']} {r['dtype']} {r['exec']} {r['mode']}: {figures}", flush=True)
    report = [
        f"# Attention benchmark: {args.channels} x {args.size} x {args.size} features, {device.type}",
        "",
        f"Machine: {machine(device)}. Load average before / after: "
        f"{load_before[0]:.1f} / {os.getloadavg()[0]:.1f}.",
        f"Times: best of {args.repeats} steps after a warm-up (compiled: after the compiling step, "
        "timed as compile s); bf16: autocast, fp32 weights; peak memory above the step's starting "
        "level (attnseg.tools.memory.PeakMemory; on CUDA the allocator's peak; - for a compiled "
        "step on the CPU); matmul FLOPs only, counted on the eager code. Command: `attnseg-bench "
        + " ".join(argv if argv is not None else sys.argv[1:])
        + "`",
        "",
        *_table(results),
        "",
        "Floors (fwd+bwd, batch 1, fp32 eager, against the seed's explicit bmm):",
        "",
        *_floors(results),
    ]
    print("\n".join(report))
    if args.out:
        write_results(args.out, args.name, "\n".join(report) + "\n", results, FIELDS)
    return results


def cli() -> None:
    """Console-script entry point (``[project.scripts]``): ``main`` on the command line's arguments."""
    main(sys.argv[1:])


if __name__ == "__main__":
    cli()
