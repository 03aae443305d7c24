"""attnseg-explore-bench: every figure measured, the page size that of the file, the files written."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from attnseg.tools.explore_bench import main
from tests.tasks.test_explore import _playwright

SMALL = ["--cases", "ccnet-64x320"]


def _positive(row: dict, *keys: str) -> None:
    for key in keys:
        assert isinstance(row[key], float) and math.isfinite(row[key]) and row[key] > 0, (key, row[key])


@pytest.mark.slow  # runs the attnseg-explore command in a subprocess (~10 s): make test-slow
def test_page_size_and_write_time_without_a_browser(tmp_path: Path) -> None:
    result = main(
        [*SMALL, "--no-browser", "--pages", str(tmp_path / "pages"), "--out", str(tmp_path / "out")]
    )
    row = result["ccnet-64x320"]
    _positive(row, "page_mib", "write_s")
    page = tmp_path / "pages" / "ccnet-64x320_explorer.html"
    assert row["page"] == page and row["page_bytes"] == page.stat().st_size
    assert row["page_mib"] == row["page_bytes"] / 2**20
    assert row["cells"] == 8 * 40  # stride 8
    assert "load_s" not in row and "redraw_ms" not in row
    markdown = (tmp_path / "out" / "explore_bench.md").read_text()
    assert "1 threads; torch " in markdown and "load average (1, 5, 15 min) before / after: " in markdown
    assert f"| ccnet-64x320 | 320 | {row['page_mib']:.2f} | {row['write_s']:.1f} | - | - |" in markdown
    with open(tmp_path / "out" / "explore_bench.csv") as f:
        (line,) = csv.DictReader(f)
    assert line["case"] == "ccnet-64x320" and int(line["page_bytes"]) == row["page_bytes"]
    assert line["load_s"] == line["redraw_ms"] == ""


@pytest.mark.slow
def test_load_and_redraw_times_in_a_browser(tmp_path: Path) -> None:
    _playwright()  # skips, saying what is missing, as the explorer's browser test does
    row = main([*SMALL, "--clicks", "3", "--out", str(tmp_path)])["ccnet-64x320"]
    _positive(row, "page_mib", "write_s", "load_s", "redraw_ms")
    assert row["clicks"] == 3 and "page" not in row  # the temporary pages are gone
    with open(tmp_path / "explore_bench.csv") as f:
        (line,) = csv.DictReader(f)
    assert float(line["redraw_ms"]) == row["redraw_ms"] and float(line["load_s"]) == row["load_s"]
    assert "Chromium " in (tmp_path / "explore_bench.md").read_text()


def test_a_missing_browser_names_its_path_and_the_ways_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("ATTNSEG_CHROMIUM", str(tmp_path / "no-chromium"))
    with pytest.raises(SystemExit):
        main(SMALL)
    error = capsys.readouterr().err
    assert f"no Chromium at {tmp_path / 'no-chromium'}" in error
    assert "ATTNSEG_CHROMIUM" in error and "--no-browser" in error


def test_a_malformed_case_is_named(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["--cases", "ccnet-64", "--no-browser"])
    assert "'ccnet-64': expected <head>-<H>x<W>" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--cases", "danett-64x64", "--no-browser"])
    assert "no head 'danett' in conf/head/" in capsys.readouterr().err
