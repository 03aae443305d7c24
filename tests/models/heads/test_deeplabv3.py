"""DeepLabV3 head (smp): the contract, the output strides it takes and refuses, its ASPP rates."""

from __future__ import annotations

import pytest

from attnseg.models.heads import DeepLabV3Head
from tests.models.heads.contract import HeadContract, MakeCfg, assert_refused_at_start


class TestDeepLabV3(HeadContract):
    option, head_class = "deeplabv3", DeepLabV3Head
    narrow = ("head.channels=32",)

    def test_works_at_output_stride_16(self, make_cfg: MakeCfg) -> None:
        assert self.head_logits(make_cfg, "backbone.output_stride=16").shape[-2:] == (64 // 16, 64 // 16)

    def test_undilated_backbone_is_refused_at_start(self, make_cfg: MakeCfg) -> None:
        cfg = make_cfg(f"head={self.option}", "backbone.output_stride=32", "logger=csv")
        assert_refused_at_start(
            cfg, r"DeepLabV3Head \(head=deeplabv3\) needs backbone.output_stride=8 or 16, got 32"
        )

    def test_other_than_three_rates_are_refused(self) -> None:
        with pytest.raises(ValueError, match=r"head.atrous_rates needs 3 dilation rates, got \[6, 12\]"):
            DeepLabV3Head(32, 6, atrous_rates=[6, 12])
