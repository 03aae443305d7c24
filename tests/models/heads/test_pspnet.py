"""PSPNet head (smp): the contract, and any output stride works."""

from __future__ import annotations

from attnseg.models.heads import PSPHead
from tests.models.heads.contract import HeadContract, MakeCfg


class TestPSPNet(HeadContract):
    option, head_class = "pspnet", PSPHead
    narrow = ("head.channels=32",)

    def test_works_at_output_stride_16(self, make_cfg: MakeCfg) -> None:
        assert self.head_logits(make_cfg, "backbone.output_stride=16").shape[-2:] == (64 // 16, 64 // 16)
