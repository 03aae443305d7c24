"""Self-attention (SAGAN) head: the contract, its inner width."""

from __future__ import annotations

from attnseg.models.heads import SelfAttentionHead
from tests.models.heads.contract import HeadContract, inner_widths


class TestSelfAttention(HeadContract):
    option, head_class = "self_attn", SelfAttentionHead

    def test_inner_width_defaults_to_a_quarter_and_is_configurable(self) -> None:
        assert inner_widths(SelfAttentionHead(256, 19)) == {64}
        assert inner_widths(SelfAttentionHead(256, 19, channels=32)) == {32}
