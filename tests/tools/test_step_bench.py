"""``attnseg-step-bench`` at a toy size (test_resnet, 64 px): every head's training step, bf16,
out-of-memory rows, the CSV and markdown; the paper-setting models it builds; ``make bench-gpu``'s
commands, and (slow) that command run small on the CPU, compiled rows included."""

from __future__ import annotations

import csv
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from attnseg.config.compose import compose
from attnseg.tools import bench, step_bench
from attnseg.training.module import SegmentationModule
from tests.conftest import ROOT

TINY = ["--device", "cpu", "--backbone", "test_resnet", "--size", "64", "--repeats", "1", "--warmup", "1"]


def _spec(head: str = "ccnet", **more: object) -> dict:
    return {"head": head, "overrides": step_bench.overrides(head, "test_resnet"), "size": 64,
            "batch_sizes": [1], "dtype": "fp32", "exec": "eager", "device": "cpu", "repeats": 1,
            "warmup": 1, **more}  # fmt: skip


@pytest.mark.slow  # real processes, started fresh: make test-slow
def test_the_command_writes_csv_and_markdown_rows_of_bf16_steps(tmp_path: Path) -> None:
    args = [*TINY, "--heads", "ccnet", "--dtype", "bf16", "--batch-sizes", "2", "--out", str(tmp_path)]
    step_bench.main(args)
    with (tmp_path / "step_bench.csv").open() as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == step_bench.FIELDS
    (r,) = rows
    assert (r["head"], r["batch"], r["dtype"], r["exec"], r["status"]) == (
        "ccnet",
        "2",
        "bf16",
        "eager",
        "ok",
    )
    assert r["logits_dtype"] == "bfloat16" and r["backbone"] == "test_resnet" and r["device"] == "cpu"
    assert float(r["ms_per_image"]) == pytest.approx(1e3 * float(r["time_median_s"]) / 2)
    assert float(r["peak_mib"]) > float(r["step_peak_mib"]) > 0  # the total adds what was held
    table = (tmp_path / "step_bench.md").read_text()
    machine = re.search(r"^Machine: (.*)$", table, re.MULTILINE).group(1)
    assert machine.startswith("CPU ") and f"{torch.get_num_threads()} threads" in machine
    assert f"torch {torch.__version__}" in machine and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", machine)
    assert "experiment=cityscapes_769 head=<head> backbone=test_resnet" in table
    assert re.search(
        r"^\| ccnet \| test_resnet \| 2 \| bf16 \| eager \| 0\.\d \| \d+ \| \d+ \| \d+ \| \d+ \|", table, re.M
    )


@pytest.mark.parametrize("head", step_bench.HEADS)
def test_every_head_trains_a_step(single_thread: None, monkeypatch, head: str) -> None:
    losses, steps = [], []  # what each step's loss covered; whether SGD stepped on gradients
    compute_loss, sgd_step = SegmentationModule.compute_loss, torch.optim.SGD.step

    def spy_loss(module, outputs, masks):
        losses.append(sorted(outputs))
        return compute_loss(module, outputs, masks)

    def spy_step(optimizer, *args, **kwargs):
        steps.append(all(p.grad is not None for g in optimizer.param_groups for p in g["params"]))
        return sgd_step(optimizer, *args, **kwargs)

    monkeypatch.setattr(SegmentationModule, "compute_loss", spy_loss)
    monkeypatch.setattr(torch.optim.SGD, "step", spy_step)
    (row,) = step_bench.rows(_spec(head))
    assert row["status"] == "ok" and row["logits_dtype"] == "float32" and row["params"] > 0
    assert row["time_median_s"] > 0 and row["first_step_s"] > 0 and row["peak_mib"] > row["step_peak_mib"] > 0
    outputs = ["aux", "cam", "out", "pam"] if head == "danet" else ["aux", "out"]
    assert losses == [outputs] * 3 and steps == [True] * 3  # warm-up, timed, measured: every output, SGD


def test_out_of_memory_is_a_row_and_the_larger_batches_are_not_tried() -> None:
    tried = []

    def fake(spec: dict, batch: int) -> dict:
        tried.append(batch)
        if batch > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
        return {"backbone": "r", "params": 1e6, "time_median_s": 0.1, "ms_per_image": 100.0,
                "step_peak_mib": 1.0, "peak_mib": 2.0, "first_step_s": 1.0}  # fmt: skip

    rows = list(step_bench.rows(_spec(batch_sizes=[4, 1, 2]), fake))
    assert tried == [1, 2]
    assert [(r["batch"], r["status"]) for r in rows] == [(1, "ok"), (2, "OOM"), (4, "OOM")]
    args = step_bench._parser().parse_args(["--heads", "ccnet"])
    table = step_bench.to_markdown(rows, args, "").splitlines()  # whole rows, cells under their columns
    assert "| ccnet | resnet101d | 2 | fp32 | eager | - | OOM | - | - | - | - |" in table
    assert "| ccnet | r | 1 | fp32 | eager | 1.0 | 100 | 100 | 1 | 2 | 1.0 |" in table


def test_other_errors_stop_the_worker() -> None:
    def broken(spec: dict, batch: int) -> dict:
        raise RuntimeError("Given groups=1, weight of size [64, 3, 7, 7], expected input")

    with pytest.raises(RuntimeError, match="groups"):
        list(step_bench.rows(_spec(), broken))


@pytest.mark.parametrize(
    ("head", "presets", "backbone", "aux"),
    [
        ("fcn", False, "resnet101d", True),
        ("self_attn", True, "resnet101d", True),  # no paper preset: the shared recipe
        ("ccnet", True, "resnet101s", True),
        ("danet", True, "resnet101", False),  # DANet has no auxiliary head
    ],
)
def test_models_are_built_at_the_paper_setting(head: str, presets: bool, backbone: str, aux: bool) -> None:
    cfg = compose("train", step_bench.overrides(head, "resnet101d", presets))
    assert cfg.dataset.num_classes == 19 and cfg.backbone.output_stride == 8
    assert cfg.backbone.name == backbone and not cfg.backbone.pretrained
    assert (cfg.model.net.aux_head is not None) == aux and cfg.optimizer._target_ == "torch.optim.SGD"


def _gpu_commands(**variables: str) -> list[list[str]]:
    """The commands of ``make bench-gpu`` (a dry run), with Make variables set."""
    settings = [f"{k}={v}" for k, v in {"BENCH_PYTHON": sys.executable, **variables}.items()]
    out = subprocess.run(
        ["make", "-s", "-n", "bench-gpu", *settings], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [shlex.split(line) for line in out.stdout.replace("\\\n", " ").splitlines() if line.strip()]


def test_bench_gpu_runs_the_gpu_set_within_eight_minutes() -> None:
    (python, _, module, *module_args), (_, _, steps, *step_args) = _gpu_commands()
    assert python == sys.executable and (module, steps) == ("attnseg.tools.bench", "attnseg.tools.step_bench")
    assert module_args[module_args.index("--device") + 1] == "cuda"
    module_args[module_args.index("--device") + 1] = "cpu"  # parse here, without a GPU
    step_args[step_args.index("--device") + 1] = "cpu"
    modules, heads = bench._parser().parse_args(module_args), step_bench._parser().parse_args(step_args)
    for args in (modules, heads):
        assert sorted(args.dtype) == ["bf16", "fp32"] and sorted(args.compile) == ["compile", "eager"]
        assert str(args.out) == "docs" and args.timeout <= args.time_budget
    assert {"CrissCrossAttention", "criss-cross einsum autograd", "NonLocal2d"} <= set(modules.compile_cases)
    assert modules.name == "benchmark_gpu" and heads.name == "benchmark_gpu_steps"
    assert sorted(heads.heads) == sorted(step_bench.HEADS) and heads.backbone == "resnet101d"
    assert heads.size == 769 and heads.batch_sizes == [1, 2]
    assert modules.time_budget + heads.time_budget <= 8 * 60


@pytest.mark.slow
def test_bench_gpu_runs_small_on_the_cpu_with_compiled_training_steps(tmp_path: Path) -> None:
    small = {  # the module bench's compiled rows: tests/tools/test_bench.py
        "GPU_DEVICE": "cpu",
        "GPU_OUT": str(tmp_path),
        "GPU_BENCH": "--size 12 --channels 16 --batch-sizes 1 --repeats 1 --cases CrissCrossAttention --compile eager",
        "GPU_STEPS": f"{' '.join(TINY[2:])} --batch-sizes 1 --heads ccnet --dtype bf16",
    }
    subprocess.run(["make", "-s", "bench-gpu", *(f"{k}={v}" for k, v in small.items()), f"BENCH_PYTHON={sys.executable}"],
                   cwd=ROOT, check=True, capture_output=True, text=True, timeout=900)  # fmt: skip
    with (tmp_path / "benchmark_gpu.csv").open() as f:
        modules = list(csv.DictReader(f))
    assert [(r["dtype"], r["mode"], r["status"]) for r in modules] == [
        (dtype, mode, "ok") for dtype in ("fp32", "bf16") for mode in ("fwd", "fwd+bwd")
    ]
    with (tmp_path / "benchmark_gpu_steps.csv").open() as f:
        steps = {r["exec"]: r for r in csv.DictReader(f)}
    assert sorted(steps) == ["compile", "eager"] and all(r["status"] == "ok" for r in steps.values())
    assert float(steps["compile"]["first_step_s"]) > 10 * float(steps["compile"]["time_median_s"]) > 0
    assert (
        steps["compile"]["peak_mib"] == "" and float(steps["eager"]["peak_mib"]) > 0
    )  # CPU: no compiled figure
    table = (tmp_path / "benchmark_gpu_steps.md").read_text()
    assert "| ccnet | test_resnet | 1 | bf16 | compile |" in table
