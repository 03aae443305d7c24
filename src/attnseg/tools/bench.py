"""Benchmark of the attention modules against naive formulations, at the CCNet setting.

``attnseg-bench`` (``make bench ARGS="..."``): for each module, forward (inference,
``no_grad``) and forward+backward (training step, upstream gradient given) time and peak memory,
parameters and matmul FLOPs, on 512 x 97 x 97 features (a 769 x 769 crop at stride 8).

Every module runs in a fresh subprocess. Timing: one warm-up step (counted by
``FlopCounterMode``, which misses in-place ``addmm_``/``baddbmm_`` unless told, so they are mapped
too), then ``--repeats`` timed steps. Memory: one more step measured by the project's memory meter,
:class:`attnseg.tools.memory.PeakMemory` (the peak of the tensors the step allocates above what
was held before it: module, input and upstream gradient excluded; output, saved tensors and
gradients included; the CUDA allocator's peak on a GPU).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from attnseg.models.attention import (
    ChannelAttention,
    CrissCrossAttention,
    NonLocal2d,
    PositionAttention,
    SelfAttention,
)
from attnseg.models.attention.criss_cross import criss_cross_gather, criss_cross_probs
from attnseg.tools.memory import PeakMemory

BASELINE = "seed Self_Attn"


def _naive_criss_cross(m: CrissCrossAttention) -> Callable[[torch.Tensor], torch.Tensor]:
    """Criss-cross as a masked dense softmax: full (HW) x (HW) energies, -inf off the cross."""
    masks: dict[tuple[int, int], torch.Tensor] = {}

    def forward(x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        if (height, width) not in masks:  # a constant, built before the measured steps
            r = torch.arange(height * width, device=x.device)
            rows, cols = r // width, r % width
            masks[height, width] = (rows[:, None] == rows[None]) | (cols[:, None] == cols[None])
        q, k, v = (c(x).flatten(2) for c in (m.query_conv, m.key_conv, m.value_conv))  # (B, c, N)
        energy = torch.bmm(q.transpose(1, 2), k).masked_fill(~masks[height, width], float("-inf"))
        out = torch.bmm(v, torch.softmax(energy, dim=-1).transpose(1, 2))  # (B, C, N)
        return m.gamma * out.view(batch, channels, height, width) + x

    return forward


def _einsum_criss_cross(m: CrissCrossAttention) -> Callable[[torch.Tensor], torch.Tensor]:
    """The straightforward O(HW (H + W)) version: einsum energies + autograd (the compile path)."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        probs = criss_cross_probs(m.query_conv(x), m.key_conv(x))
        return m.gamma * criss_cross_gather(probs, m.value_conv(x)) + x

    return forward


def _explicit(m: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The bmm path that also returns the N x N map (op for op the article's ``Self_Attn``)."""
    return lambda x: m(x, return_attention=True)[0]


# name -> (module factory, forward factory)
CASES: dict[str, tuple[Callable[[int], nn.Module], Callable[[nn.Module], Callable]]] = {
    BASELINE: (SelfAttention, _explicit),
    "SelfAttention": (SelfAttention, lambda m: m),
    "PositionAttention (PAM)": (PositionAttention, lambda m: m),
    "NonLocal2d explicit bmm": (NonLocal2d, _explicit),
    "NonLocal2d": (NonLocal2d, lambda m: m),
    "ChannelAttention (CAM)": (ChannelAttention, lambda m: m),
    "criss-cross masked dense": (CrissCrossAttention, _naive_criss_cross),
    "criss-cross einsum autograd": (CrissCrossAttention, _einsum_criss_cross),
    "CrissCrossAttention": (CrissCrossAttention, lambda m: m),
}
# efficient module -> (memory floor, speed floor) against the baseline, fwd+bwd at batch 1
FLOORS = {
    "CrissCrossAttention": (11.0, 10.0),
    "SelfAttention": (5.0, 1.0),
    "PositionAttention (PAM)": (5.0, 1.0),
    "NonLocal2d": (5.0, 1.0),
}


def _addmm_flops(bias_shape, a_shape, b_shape, out_shape=None, **kwargs) -> int:
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]


def _baddbmm_flops(bias_shape, a_shape, b_shape, out_shape=None, **kwargs) -> int:
    return 2 * a_shape[0] * a_shape[1] * a_shape[2] * b_shape[2]


# FlopCounterMode knows addmm / baddbmm but not their in-place forms
IN_PLACE_FLOPS = {torch.ops.aten.addmm_: _addmm_flops, torch.ops.aten.baddbmm_: _baddbmm_flops}


def _worker(spec: dict) -> list[dict]:
    """One module in this (fresh) process, both modes: FLOPs, times, then peak memory."""
    modes = ("fwd", "fwd+bwd")
    steps = {mode: _prepare(spec, mode == "fwd+bwd") for mode in modes}
    results = {mode: {**spec, "mode": mode, "params": steps[mode][1]} for mode in modes}
    for mode, (step, _) in steps.items():
        with FlopCounterMode(display=False, custom_mapping=IN_PLACE_FLOPS) as counter:
            step()  # also the warm-up
        times = []
        for _ in range(spec["repeats"]):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        with PeakMemory(spec["device"]) as memory:
            step()
        results[mode].update(gflops=counter.get_total_flops() / 1e9, time_min_s=min(times),
                             time_median_s=statistics.median(times), peak_mib=memory.peak_mib)  # fmt: skip
    return list(results.values())


def _prepare(spec: dict, train: bool) -> tuple[Callable[[], None], int]:
    """A step closure (inference or training) for one case, and the module's parameter count."""
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

    def step() -> None:
        if train:
            forward(x).backward(grad)
            x.grad = None
            module.zero_grad(set_to_none=True)
        else:
            with torch.no_grad():
                forward(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step, sum(p.numel() for p in module.parameters())


def _run_case(spec: dict) -> list[dict]:
    """Times and memory of one case, in a fresh interpreter."""
    cmd = [sys.executable, "-m", "attnseg.tools.bench", "--worker", json.dumps(spec)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{spec['case']} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _machine(device: torch.device) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        if Path("/proc/cpuinfo").exists():
            models = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line]
            name = models[0].split(":", 1)[1].strip() if models else name
    return (
        f"{name}, {os.cpu_count()} CPUs, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def _table(results: list[dict]) -> list[str]:
    by_key = {(r["case"], r["batch"], r["mode"]): r for r in results}
    lines = [
        "| module | B | params | GFLOP fwd | GFLOP fwd+bwd | fwd ms | fwd MiB | fwd+bwd ms | fwd+bwd MiB "
        "| fwd+bwd speed-up vs seed | fwd+bwd memory saving vs seed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case, batch in dict.fromkeys((r["case"], r["batch"]) for r in results):
        fwd, train = by_key.get((case, batch, "fwd")), by_key.get((case, batch, "fwd+bwd"))
        seed = by_key.get((BASELINE, batch, "fwd+bwd"))
        cells = [case, str(batch), f"{(fwd or train)['params'] / 1e6:.2f} M"]
        for r in (fwd, train):
            cells.append(f"{r['gflops']:.1f}" if r else "-")
        for r in (fwd, train):
            cells += [f"{r['time_min_s'] * 1e3:.0f}", f"{r['peak_mib']:.0f}"] if r else ["-", "-"]
        if train and seed:
            cells += [
                f"{seed['time_min_s'] / train['time_min_s']:.1f}x",
                f"{seed['peak_mib'] / train['peak_mib']:.1f}x",
            ]
        else:
            cells += ["-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _floors(results: list[dict]) -> list[str]:
    by_key = {(r["case"], r["batch"], r["mode"]): r for r in results}
    seed = by_key.get((BASELINE, 1, "fwd+bwd"))
    lines = []
    for case, (memory_floor, speed_floor) in FLOORS.items():
        r = by_key.get((case, 1, "fwd+bwd"))
        if seed is None or r is None:
            continue
        memory, speed = seed["peak_mib"] / r["peak_mib"], seed["time_min_s"] / r["time_min_s"]
        ok = memory >= memory_floor and speed >= speed_floor
        lines.append(
            f"- {case}: {memory:.1f}x less peak memory (floor {memory_floor:g}x), {speed:.2f}x faster "
            f"(floor {speed_floor:g}x): {'PASS' if ok else 'FAIL'}"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--size", type=int, default=97, help="feature height = width")
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per case (after 1 warm-up)")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--out", type=Path, default=None, help="write benchmark.md and benchmark.csv here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return
    device = torch.device(args.device)
    load_before = os.getloadavg()
    results = []
    for batch in args.batch_sizes:
        for case in args.cases:
            spec = {"case": case, "batch": batch, "device": args.device, "size": args.size,
                    "channels": args.channels, "repeats": args.repeats}  # fmt: skip
            for r in _run_case(spec):
                results.append(r)
                print(
                    f"{case} B={batch} {r['mode']}: {r['time_min_s'] * 1e3:.0f} ms, {r['peak_mib']:.0f} MiB"
                )
    report = [
        f"# Attention benchmark: {args.channels} x {args.size} x {args.size} features, {device.type}",
        "",
        f"Machine: {_machine(device)}. Load average before / after: "
        f"{load_before[0]:.1f} / {os.getloadavg()[0]:.1f}.",
        f"Times: best of {args.repeats} steps after a warm-up; peak memory above the step's "
        "starting level (attnseg.tools.memory.PeakMemory); matmul FLOPs only. Command: `attnseg-bench "
        + " ".join(argv if argv is not None else sys.argv[1:])
        + "`",
        "",
        *_table(results),
        "",
        "Floors (fwd+bwd, batch 1, against the seed's explicit bmm):",
        "",
        *_floors(results),
    ]
    print("\n".join(report))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "benchmark.md").write_text("\n".join(report) + "\n")
        with open(args.out / "benchmark.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(results[0]))
            writer.writeheader()
            writer.writerows(results)


def cli() -> None:
    """Console-script entry point (``[project.scripts]``): ``main`` on the command line's arguments."""
    main(sys.argv[1:])


if __name__ == "__main__":
    cli()
