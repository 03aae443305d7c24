"""model_cost: exact FLOPs of a known head, the CLI table, refused heads reported as such."""

from __future__ import annotations

import pytest

from attnseg.models import Segmentor, TimmBackbone
from attnseg.models.heads import FCNHead
from attnseg.tools.cost import head_cost
from attnseg.tools.model_cost import main


def test_head_cost_counts_a_linear_classifier_exactly() -> None:
    backbone = TimmBackbone("test_resnet")  # last stage: 96 channels at stride 8
    net = Segmentor(backbone, lambda c, k: FCNHead(c, k, num_convs=0), num_classes=6)
    cost = head_cost(net, 64, repeats=1)
    assert cost["head_params"] == 96 * 6 + 6
    assert cost["head_gflops"] * 1e9 == pytest.approx(2 * 96 * 6 * 8 * 8)  # 1 multiply-add = 2 FLOPs
    assert cost["params"] > cost["head_params"] and cost["gflops"] > cost["head_gflops"]
    assert cost["latency_ms"] > 0 and cost["output_stride"] == 8


def test_cli_prints_a_row_per_head_and_the_refusals(capsys) -> None:
    args = ["head=pspnet,deeplabv3", "backbone=test_resnet", "backbone.output_stride=32"]
    rows = main([*args, "--size", "32", "--repeats", "1"])
    assert rows["pspnet"]["output_stride"] == 32
    assert "needs backbone.output_stride=8 or 16, got 32" in rows["deeplabv3"]
    out = capsys.readouterr().out
    assert "| pspnet | 32 |" in out and "| deeplabv3 | refused: DeepLabV3Head" in out
