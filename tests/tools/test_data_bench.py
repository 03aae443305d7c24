"""``attnseg-data-bench`` at a toy size: every figure measured and written, and the timed parts
doing the project's real work (the mask check raises, the sample parts rebuild ``dataset[0]``)."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attnseg.data.cityscapes import LABEL_ID_LUT, LABEL_IDS_SUFFIX, Cityscapes
from attnseg.tools import data_bench

TINY = ["--repeats", "1", "--files", "4", "--size", "64"]


def test_every_figure_is_measured_and_written(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    rows = data_bench.main([*TINY, "--out", str(tmp_path)])
    assert list(rows) == list(data_bench.FIGURES)
    for row in rows.values():
        assert row["repeats"] == 1
        assert all(math.isfinite(row[k]) and row[k] > 0 for k in ("cpu_ms", "wall_ms")), row
    assert torch.get_num_threads() == threads  # the bench's one thread does not leak out
    with (tmp_path / "data_bench.csv").open() as f:
        reader = csv.DictReader(f)
        written = list(reader)
    assert reader.fieldnames == data_bench.FIELDS
    assert [r["figure"] for r in written] == list(data_bench.FIGURES)
    for r in written:
        assert float(r["cpu_ms"]) == pytest.approx(rows[r["figure"]]["cpu_ms"])
    table = (tmp_path / "data_bench.md").read_text()
    assert re.search(
        r"^Machine: CPU .*; 1 threads; torch .*Load average before / after: [\d.]+ / [\d.]+", table, re.M
    )
    for name in data_bench.FIGURES:
        assert re.search(rf"^\| {name} \| .+ \| [\d.]+ \| [\d.]+ \|$", table, re.M), name


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    return tmp_path, data_bench.write_tree(tmp_path, height=64, files=2)


def test_the_timed_mask_check_is_the_one_that_refuses_a_bad_value(tree: tuple[Path, dict[str, Path]]) -> None:
    root, paths = tree
    dataset = Cityscapes(root, "train", scan_masks=0)
    timings = data_bench.Timings()
    written = np.array(Image.open(paths["mask"]))
    labels = data_bench.mask_parts(dataset, paths["mask"], timings, "mask")
    np.testing.assert_array_equal(labels, LABEL_ID_LUT[written])  # decoded the file, mapped to train ids
    assert set(timings.seconds) == {"mask_decode", "mask_check"}
    written[3, 5] = 200  # not a Cityscapes label id
    bad = root / f"bad{LABEL_IDS_SUFFIX}"
    Image.fromarray(written).save(bad)
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}: mask value\(s\) \[200\]"):
        data_bench.mask_parts(dataset, bad, timings, "mask")


def test_the_timed_sample_parts_are_the_sample_the_dataset_yields(tree: tuple[Path, dict[str, Path]]) -> None:
    root, paths = tree
    bench = data_bench.setup(root, paths, height=64)
    names = [name for name, _ in data_bench.train_steps(bench.train)]
    assert names == ["sample_rescale", "sample_crop", "sample_flip", "sample_distortion"]
    for seed in range(4):  # flipped and not, each distortion drawn or not
        torch.manual_seed(seed)
        image, mask = bench.train[0]
        torch.manual_seed(seed)
        parts = data_bench.sample_parts(bench.train, data_bench.Timings())
        assert torch.equal(parts[0], image) and torch.equal(parts[1], mask)
