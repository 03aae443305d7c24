"""``attnseg-bench`` end to end at a toy size: the table, the CSV, and the memory meter's ordering."""

from __future__ import annotations

import csv
from pathlib import Path

from attnseg.tools import bench


def test_bench_writes_the_table_and_dense_criss_cross_needs_more_memory(tmp_path: Path) -> None:
    cases = ["criss-cross masked dense", "CrissCrossAttention"]
    args = [
        "--size",
        "12",
        "--channels",
        "16",
        "--batch-sizes",
        "1",
        "--repeats",
        "1",
        "--out",
        str(tmp_path),
    ]
    bench.main([*args, "--cases", *cases])
    table = (tmp_path / "benchmark.md").read_text()
    assert all(f"| {case} | 1 |" in table for case in cases)
    with (tmp_path / "benchmark.csv").open() as f:
        rows = {(r["case"], r["mode"]): r for r in csv.DictReader(f)}
    assert len(rows) == 4 and all(
        float(r["peak_mib"]) > 0 and float(r["time_min_s"]) > 0 for r in rows.values()
    )
    # the masked dense form holds (HW) x (HW) energies; criss-cross attention HW x (H + W)
    dense, cca = (float(rows[c, "fwd+bwd"]["peak_mib"]) for c in cases)
    assert dense > 2 * cca, (dense, cca)
