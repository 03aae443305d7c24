"""CCNet head: the contract, one criss-cross attention shared by every recurrence, its inner width."""

from __future__ import annotations

import pytest

from attnseg.models.attention import CrissCrossAttention
from attnseg.models.heads import CCHead
from tests.models.heads.contract import HeadContract, inner_widths


class TestCCNet(HeadContract):
    option, head_class = "ccnet", CCHead

    def test_one_attention_is_shared_across_recurrences(self) -> None:
        head = CCHead(32, 3, channels=16, recurrence=3)
        assert sum(isinstance(m, CrissCrossAttention) for m in head.modules()) == 1
        with pytest.raises(ValueError, match="recurrence must be >= 1, got 0"):
            CCHead(32, 3, recurrence=0)

    def test_inner_width_defaults_to_a_quarter_and_is_configurable(self) -> None:
        assert inner_widths(CCHead(256, 19)) == {64}
        assert inner_widths(CCHead(256, 19, channels=32)) == {32}
