"""How the benchmarks run and read their clocks, so that a figure means the same in each of them.

Shared by ``attnseg-bench`` (attention modules), ``attnseg-step-bench`` (whole training steps)
and ``attnseg-report`` (head costs):

* ``--device auto`` is the GPU when torch sees one, else the CPU; ``cuda`` on a machine without
  one is an error that names the option, never a silent fall-back to the CPU.
* ``bf16`` is autocast around the forward (and the loss), with fp32 weights, gradients and
  optimizer state: what Lightning's ``precision=bf16-mixed`` does.
* ``compile`` is ``torch.compile(dynamic=False)``: one static graph per input shape.
* A timing synchronises the GPU before the clock starts and before it stops.
* Memory comes from :class:`attnseg.tools.memory.PeakMemory`, which a compiled step on the CPU
  escapes: its meter is a dispatch mode, and under one Dynamo runs the step eagerly. Those rows
  get no memory figure (:func:`meter_sees`) rather than the eager one.
* An out-of-memory error ends a row, not the run: the row says ``OOM``.
* Every measured configuration runs in a fresh interpreter (a worker) that prints each row as
  soon as it is measured, so that a crash or a time-out loses only the rows not printed yet;
  those come back with the reason in their ``status``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import gc
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

DTYPES = ("fp32", "bf16")
EXECUTIONS = ("eager", "compile")
ROW_PREFIX = "ROW "  # a worker's result lines, told apart from anything else it prints


def _device_problem(name: str) -> str | None:
    try:
        device = torch.device(name)
    except RuntimeError:
        return "expected auto, cpu or cuda[:index]"
    if device.type not in ("cpu", "cuda"):
        return "expected auto, cpu or cuda[:index]"
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            return (
                f"CUDA was asked for, but torch {torch.__version__} sees no CUDA GPU on this machine "
                "(torch.cuda.is_available() is False); use --device cpu or --device auto"
            )
        if (device.index or 0) >= count:
            return f"this machine has {count} CUDA device(s)"
    return None


def resolve_device(name: str) -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cpu`` and ``cuda[:i]`` as given.

    Raises:
        ValueError: naming ``--device``, for an unknown device or a GPU that is not there.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    problem = _device_problem(name)
    if problem:
        raise ValueError(f"--device {name}: {problem}")
    return torch.device(name)


def device_option(name: str) -> str:
    """``argparse`` type of ``--device``: the resolved device, or a usage error naming the option."""
    if name != "auto" and (problem := _device_problem(name)):
        raise argparse.ArgumentTypeError(f"{name}: {problem}")
    return str(resolve_device(name))


def autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    """The context a forward runs in: nothing for ``fp32``, bf16 autocast for ``bf16``."""
    if dtype == "fp32":
        return contextlib.nullcontext()
    if dtype == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")


def meter_sees(device: torch.device, execution: str) -> bool:
    """Whether :class:`~attnseg.tools.memory.PeakMemory` measures this step as it runs."""
    return device.type == "cuda" or execution == "eager"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: Callable[[], object], repeats: int, device: torch.device) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``step``, the GPU synchronised around each."""
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def is_out_of_memory(err: BaseException) -> bool:
    """A CUDA (``torch.OutOfMemoryError``) or CPU allocator failure."""
    text = str(err)
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)
    )


def release(device: torch.device) -> None:
    """Free what the last configuration (or a failed step) left, before the next one runs."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [line for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        if models:
            return models[0].split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> str:
    """The line every table starts with: GPU or CPU model, threads, torch version and the date."""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cpu = f"{_cpu_name()}, {os.cpu_count()} CPUs"
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        where = (
            f"GPU {props.name} ({props.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}, "
            f"fp32 matmul precision {torch.get_float32_matmul_precision()}); host {cpu}"
        )
    else:
        where = f"CPU {cpu}"
    return (
        f"{where}; {torch.get_num_threads()} threads; torch {torch.__version__}; "
        f"Python {platform.python_version()}; {platform.system()} {platform.release()}; {date}"
    )


def emit(row: dict) -> None:
    """Print one measured row from a worker (see :func:`run_workers`)."""
    print(ROW_PREFIX + json.dumps(row), flush=True)


def _run_worker(module: str, spec: dict, timeout: float | None) -> tuple[list[dict], str | None]:
    """Rows printed by ``python -m <module> --worker <spec>``, and why it stopped early, if it did."""
    cmd = [sys.executable, "-m", module, "--worker", json.dumps(spec)]
    # its own process group: a time-out also ends the compiler's worker processes
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
            failure = None if proc.returncode == 0 else f"failed (exit {proc.returncode})"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            failure = f"timeout ({timeout:.0f} s)"
    rows = [json.loads(line[len(ROW_PREFIX) :]) for line in out.splitlines() if line.startswith(ROW_PREFIX)]
    if failure and err.strip():
        print(f"{module} {spec}: {failure}\n{err[-3000:]}", file=sys.stderr)
    return rows, failure


def run_workers(
    module: str,
    specs: list[dict],
    expected: Callable[[dict], list[dict]],
    *,
    timeout: float | None = None,
    budget: float | None = None,
) -> Iterator[dict]:
    """Each spec in a fresh ``python -m <module> --worker``; the rows, in order, as they come.

    ``expected(spec)`` lists the rows a spec should give, each as the fields that identify it;
    a row the worker did not print comes back as those fields and a ``status`` saying why
    (its exit, a time-out, or ``skipped`` once ``budget`` seconds, all specs together, are spent).
    """
    deadline = None if budget is None else time.monotonic() + budget
    for spec in specs:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            rows, failure = [], "skipped (time budget spent)"
        else:
            limits = [t for t in (timeout, left) if t is not None]
            rows, failure = _run_worker(module, spec, min(limits) if limits else None)
        for wanted in expected(spec):
            got = next((r for r in rows if wanted.items() <= r.items()), None)
            yield got or {**wanted, "status": failure or "no result"}


def write_results(out: Path, name: str, markdown: str, rows: list[dict], fields: list[str]) -> None:
    """``<out>/<name>.md`` (the table) and ``<out>/<name>.csv`` (one line per row, ``fields``)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(markdown)
    with open(out / f"{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
