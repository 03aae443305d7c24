"""attnseg.report on hand-made run directories: grouping, statistics, costs, files, W&B."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from attnseg.tools import report
from attnseg.tools.memory import peak_training_memory
from attnseg.tools.runs import read_metrics


def _write_run(root: Path, name: str, cfg, overrides: list[str], metrics: dict | None, **files: str) -> None:
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    choices = {"head": "fcn", "backbone": "test_resnet"}
    (run / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"runtime": {"choices": choices}}}))
    (run / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    if metrics is not None:
        (run / "metrics.json").write_text(json.dumps(metrics))
    for filename, text in files.items():
        (run / filename).write_text(text)


@pytest.fixture
def sweep(make_cfg, tmp_path: Path) -> Path:
    """Two seeds of one recipe, one run of another LR, a failed run and an unfinished one."""
    root = tmp_path / "sweep"
    common = ["backbone=test_resnet", "head=fcn"]
    for seed, val, test in ((0, 0.5, 0.4), (1, 0.7, 0.6)):
        cfg = make_cfg("logger=none", f"seed={seed}")
        metrics = {"val/miou": val, "test/miou": test, "train/images_per_s": 10.0 * (seed + 1)}
        _write_run(root, f"{seed}_seed={seed}", cfg, [*common, f"seed={seed}"], metrics)
    cfg = make_cfg("logger=none", "optimizer.lr=0.02")
    _write_run(root, "2_lr", cfg, [*common, "seed=0", "optimizer.lr=0.02"], {"val/miou": 0.3})
    failed = json.dumps({"error": "ValueError: boom"})
    _write_run(root, "3_seed=2", cfg, [*common, "seed=2"], None, **{"failed.json": failed})
    _write_run(root, "4_seed=3", cfg, [*common, "seed=3"], None)
    return root


def test_report_groups_seeds_and_lists_failures(sweep: Path, make_cfg) -> None:
    rows = report.main([str(sweep), "--size", "64", "--no-wandb"])
    assert [(r.head, r.backbone, r.variant) for r in rows] == [
        ("fcn", "test_resnet", ""),
        ("fcn", "test_resnet", "optimizer.lr=0.02"),
    ]
    main = rows[0]
    assert [r.path.name for r in main.runs] == ["0_seed=0", "1_seed=1", "3_seed=2", "4_seed=3"]
    assert main.stats["val_miou"] == pytest.approx((0.6, math.sqrt(0.02)))
    assert main.stats["test_miou"] == pytest.approx((0.5, math.sqrt(0.02)))
    assert main.stats["images_per_s"] == pytest.approx((15.0, math.sqrt(50)))
    assert math.isnan(rows[1].stats["val_miou"][1]) and "test_miou" not in rows[1].stats
    assert main.cost["head_params"] == rows[1].cost["head_params"] > 0
    assert main.cost["head_gflops"] > 0 and main.cost["head_peak_mib"] > 0
    # the whole model's step: its peak holds weights, gradients and AdamW's two moments at least
    weights_mib = (
        sum(p.numel() for p in instantiate(make_cfg("logger=none").model.net).parameters()) * 4 / 2**20
    )
    assert main.cost["step_ms_per_image"] > 0
    assert (
        main.cost["model_peak_mib"] > 4 * weights_mib
        and main.cost["model_peak_mib"] > main.cost["head_peak_mib"]
    )

    table = (sweep / "report.md").read_text()
    assert "| fcn | test_resnet | - | 2/4 | 60.00 ± 14.14 | 50.00 ± 14.14 |" in table
    assert "| fcn | test_resnet | optimizer.lr=0.02 | 1/1 | 30.00 | - |" in table
    assert "- `3_seed=2`: ValueError: boom" in table and "- `4_seed=3`: no metrics" in table
    with (sweep / "report.csv").open() as f:
        lines = list(csv.DictReader(f))
    assert lines[0]["ok_runs"] == "2" and float(lines[0]["val_miou_mean"]) == pytest.approx(0.6)
    with (sweep / "report_runs.csv").open() as f:
        errors = [line["error"] for line in csv.DictReader(f)]
    assert (
        errors[:3] == ["", "", ""] and errors[3] == "ValueError: boom" and errors[4].startswith("no metrics")
    )
    assert (sweep / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_head_costs_are_measured_on_the_gpu_when_there_is_one(sweep: Path, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    devices: list[str] = []
    monkeypatch.setattr(report, "head_costs", lambda row, size, device: devices.append(device) or {})
    report.main([str(sweep), "--no-wandb"])  # --device auto
    assert devices == ["cuda", "cuda"]
    assert "Costs for one 512x512 image on cuda" in (sweep / "report.md").read_text()


def test_report_logs_the_table_to_wandb_offline(sweep: Path, tmp_path: Path) -> None:
    report.main([str(sweep), "--out", str(tmp_path / "out"), "--no-cost"])
    runs = list((tmp_path / "out" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    assert list(runs[0].glob("files/media/table/report/table_*.table.json"))


def test_metrics_come_from_json_then_csv_then_wandb(tmp_path: Path) -> None:
    assert read_metrics(tmp_path) == {}
    summary = tmp_path / "wandb" / "offline-run-1" / "files" / "wandb-summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(json.dumps({"val/miou": 0.1, "_wandb": {"runtime": 3}}))
    assert read_metrics(tmp_path) == {"val/miou": 0.1}
    metrics_csv = tmp_path / "csv" / "version_0" / "metrics.csv"
    metrics_csv.parent.mkdir(parents=True)
    metrics_csv.write_text("epoch,step,train/loss,val/miou\n0,1,2.0,\n0,1,,0.2\n1,3,1.5,\n1,3,,0.3\n")
    assert read_metrics(tmp_path) == {"epoch": 1.0, "step": 3.0, "train/loss": 1.5, "val/miou": 0.3}
    (tmp_path / "metrics.json").write_text(json.dumps({"val/miou": 0.4}))
    assert read_metrics(tmp_path) == {"val/miou": 0.4}


def test_no_runs_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        report.main([str(tmp_path), "--no-wandb"])


class _Attention(nn.Module):
    """Dot-product self-attention over all positions: an (HW x HW) map."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.proj(x).flatten(2)  # (B, C, N)
        attn = torch.softmax(q.transpose(1, 2) @ q, dim=-1)  # (B, N, N)
        return (q @ attn).view_as(x)


def test_peak_training_memory_sees_the_attention_map() -> None:
    small = peak_training_memory(_Attention(), torch.randn(1, 8, 16, 16))
    large = peak_training_memory(_Attention(), torch.randn(1, 8, 32, 32))
    map_mib = (32 * 32) ** 2 * 4 / 2**20  # one fp32 (N x N) map at 32 x 32
    assert map_mib <= large < 6 * map_mib
    assert 12 < large / small < 17  # quadratic in the number of positions
