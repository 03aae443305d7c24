"""Non-local head: the contract, its inner width."""

from __future__ import annotations

from attnseg.models.heads import NonLocalHead
from tests.models.heads.contract import HeadContract, inner_widths


class TestNonLocal(HeadContract):
    option, head_class = "nonlocal", NonLocalHead

    def test_inner_width_defaults_to_a_quarter_and_is_configurable(self) -> None:
        assert inner_widths(NonLocalHead(256, 19)) == {64}
        assert inner_widths(NonLocalHead(256, 19, channels=32)) == {32}
