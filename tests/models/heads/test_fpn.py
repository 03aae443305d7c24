"""FPN head (smp): the contract on the undilated backbone it asks for; dilated ones are refused."""

from __future__ import annotations

import pytest

from attnseg.models.heads import FPNHead
from tests.models.heads.contract import HeadContract, MakeCfg, assert_refused_at_start


class TestFPN(HeadContract):
    option, head_class = "fpn", FPNHead
    every_stage, logits_stride = True, 4
    narrow = ("head.pyramid_channels=32", "head.segmentation_channels=32")

    def test_option_runs_on_the_undilated_backbone(self, make_cfg: MakeCfg) -> None:
        assert make_cfg(f"head={self.option}").backbone.output_stride == 32

    @pytest.mark.parametrize("output_stride", [8, 16])
    def test_dilated_backbone_is_refused_at_start(self, make_cfg: MakeCfg, output_stride: int) -> None:
        cfg = make_cfg(f"head={self.option}", f"backbone.output_stride={output_stride}", "logger=csv")
        message = rf"FPNHead \(head=fpn\) needs backbone.output_stride=32, got {output_stride}"
        assert_refused_at_start(cfg, message)
