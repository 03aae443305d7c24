"""DANet head: the contract (with the `pam` and `cam` training outputs), its inner width."""

from __future__ import annotations

from attnseg.models.heads import DANetHead
from tests.models.heads.contract import HeadContract, inner_widths


class TestDANet(HeadContract):
    option, head_class = "danet", DANetHead
    extra_outputs = frozenset({"pam", "cam"})

    def test_inner_width_defaults_to_a_quarter_and_is_configurable(self) -> None:
        assert inner_widths(DANetHead(256, 19)) == {64}
        assert inner_widths(DANetHead(256, 19, channels=32)) == {32}
