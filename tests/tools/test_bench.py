"""``attnseg-bench`` at a toy size: the table and its header, the CSV, the memory meter's ordering,
bf16 autocast, out-of-memory rows, and (slow) the compiled path."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from attnseg.tools import bench

OLD_FIELDS = ["case", "batch", "device", "size", "channels", "repeats", "mode", "params", "gflops",
              "time_min_s", "time_median_s", "peak_mib"]  # fmt: skip


def _spec(case: str = "CrissCrossAttention", execution: str = "eager", **more: object) -> dict:
    return {"case": case, "batch": 1, "device": "cpu", "size": 8, "channels": 16, "repeats": 1,
            "exec": execution, "dtypes": ["fp32"], **more}  # fmt: skip


def test_bench_writes_the_table_and_dense_criss_cross_needs_more_memory(tmp_path: Path) -> None:
    cases = ["criss-cross masked dense", "CrissCrossAttention"]
    args = ["--device", "cpu", "--dtype", "fp32", "bf16", "--size", "12", "--channels", "16"]
    args += ["--batch-sizes", "1", "--repeats", "1", "--out", str(tmp_path)]
    bench.main([*args, "--cases", *cases])
    table = (tmp_path / "benchmark.md").read_text()
    assert all(f"| {case} | 1 | {dtype} | eager |" in table for case in cases for dtype in ("fp32", "bf16"))
    machine = re.search(r"^Machine: (.*)$", table, re.MULTILINE).group(1)
    assert machine.startswith("CPU ") and f"{torch.get_num_threads()} threads" in machine
    assert f"torch {torch.__version__}" in machine and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", machine)
    with (tmp_path / "benchmark.csv").open() as f:
        reader = csv.DictReader(f)
        rows = {(r["case"], r["dtype"], r["mode"]): r for r in reader}
    assert reader.fieldnames[: len(OLD_FIELDS)] == OLD_FIELDS  # older readers of the CSV still work
    assert len(rows) == 8 and all(
        r["status"] == "ok"
        and r["exec"] == "eager"
        and float(r["peak_mib"]) > 0
        and float(r["time_min_s"]) > 0
        for r in rows.values()
    )
    # the masked dense form holds (HW) x (HW) energies; criss-cross attention HW x (H + W)
    dense, cca = (float(rows[c, "fp32", "fwd+bwd"]["peak_mib"]) for c in cases)
    assert dense > 2 * cca, (dense, cca)


class _MatmulDtypes(TorchDispatchMode):
    """The dtypes the convolutions and batched matmuls produce while it is on."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[torch.dtype] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in (torch.ops.aten.convolution.default, torch.ops.aten.bmm.default):
            self.seen.add(out.dtype)
        return out


@pytest.mark.parametrize("train", [False, True], ids=["fwd", "fwd+bwd"])
def test_bf16_rows_run_their_convolutions_and_matmuls_in_bf16(train: bool) -> None:
    for dtype, expected in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        step, _, _ = bench._prepare(_spec("criss-cross masked dense"), dtype, train)
        with _MatmulDtypes() as ops:
            step()
        assert ops.seen == {expected}, dtype


def test_eager_rows_come_first_and_only_the_compile_cases_compile() -> None:
    args = bench._parser().parse_args(
        [
            "--device",
            "cpu",
            "--compile",
            "compile",
            "eager",
            "--batch-sizes",
            "1",
            "2",
            "--dtype",
            "bf16",
            "fp32",
        ]
        + ["--cases", "NonLocal2d", "CrissCrossAttention", "--compile-cases", "CrissCrossAttention"]
    )
    assert [(s["exec"], s["batch"], s["case"], s["dtypes"]) for s in bench._specs(args)] == [
        ("eager", 1, "NonLocal2d", ["bf16", "fp32"]),
        ("eager", 1, "CrissCrossAttention", ["bf16", "fp32"]),
        ("eager", 2, "NonLocal2d", ["bf16", "fp32"]),
        ("eager", 2, "CrissCrossAttention", ["bf16", "fp32"]),
        ("compile", 1, "CrissCrossAttention", ["bf16", "fp32"]),
        ("compile", 2, "CrissCrossAttention", ["bf16", "fp32"]),
    ]


def _fake_measure(spec: dict, dtype: str, train: bool) -> dict:
    if dtype == "bf16" and train:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
    return {"params": 10, "gflops": 1.0, "time_min_s": 1e-3, "time_median_s": 1e-3, "peak_mib": 1.0}


def test_out_of_memory_ends_the_row_not_the_case() -> None:
    rows = list(bench.rows(_spec(dtypes=["fp32", "bf16"]), _fake_measure))
    assert [(r["dtype"], r["mode"], r["status"]) for r in rows] == [
        ("fp32", "fwd", "ok"),
        ("fp32", "fwd+bwd", "ok"),
        ("bf16", "fwd", "ok"),
        ("bf16", "fwd+bwd", "OOM"),
    ]
    line = "| CrissCrossAttention | 1 | bf16 | eager | 0.00 M | 1.0 | - | 1 | 1 | OOM | - | - | - |"
    assert line in bench._table(rows)  # a whole row, its cells under their columns


def test_other_errors_stop_the_worker() -> None:
    def broken(spec: dict, dtype: str, train: bool) -> dict:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    with pytest.raises(RuntimeError, match="shapes"):
        list(bench.rows(_spec(), broken))


@pytest.mark.slow
def test_compiled_rows_count_the_same_flops_and_leave_cpu_memory_blank() -> None:
    eager, compiled = (list(bench.rows(_spec(execution=e, dtypes=["bf16"]))) for e in ("eager", "compile"))
    for e, c in zip(eager, compiled, strict=True):
        assert c["status"] == "ok" and c["exec"] == "compile" and c["time_min_s"] > 0
        assert c["gflops"] == e["gflops"] and c["compile_s"] > 10 * c["time_min_s"] and e["compile_s"] is None
        assert c["peak_mib"] is None and e["peak_mib"] > 0  # the CPU meter cannot see compiled code
    table = "\n".join(bench._table(eager + compiled))
    assert "| CrissCrossAttention | 1 | bf16 | compile |" in table and "compile s fwd / fwd+bwd |" in table
