"""DeepLabV3+ head (smp): the contract, the output strides it takes and refuses, too few stages."""

from __future__ import annotations

import pytest

from attnseg.models.heads import DeepLabV3PlusHead
from tests.models.heads.contract import HeadContract, MakeCfg, assert_refused_at_start


class TestDeepLabV3Plus(HeadContract):
    option, head_class = "deeplabv3plus", DeepLabV3PlusHead
    every_stage, logits_stride = True, 4  # fuses the stride-4 stage
    narrow = ("head.channels=32",)

    def test_works_at_output_stride_16(self, make_cfg: MakeCfg) -> None:
        assert self.head_logits(make_cfg, "backbone.output_stride=16").shape[-2:] == (64 // 4, 64 // 4)

    def test_undilated_backbone_is_refused_at_start(self, make_cfg: MakeCfg) -> None:
        cfg = make_cfg(f"head={self.option}", "backbone.output_stride=32", "logger=csv")
        assert_refused_at_start(cfg, r"\(head=deeplabv3plus\) needs backbone.output_stride=8 or 16, got 32")

    def test_too_few_stages_are_refused(self) -> None:
        with pytest.raises(ValueError, match=r"needs a backbone with at least 4 stages \(C2..C5\), got 3"):
            DeepLabV3PlusHead([16, 24, 32], 6)
