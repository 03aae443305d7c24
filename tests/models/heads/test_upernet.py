"""UPerNet head (smp): the contract, and any output stride works (logits stay at stride 4)."""

from __future__ import annotations

from attnseg.models.heads import UPerNetHead
from tests.models.heads.contract import HeadContract, MakeCfg


class TestUPerNet(HeadContract):
    option, head_class = "upernet", UPerNetHead
    every_stage, logits_stride = True, 4
    narrow = ("head.channels=32",)

    def test_works_at_output_stride_16(self, make_cfg: MakeCfg) -> None:
        assert self.head_logits(make_cfg, "backbone.output_stride=16").shape[-2:] == (64 // 4, 64 // 4)
