"""FCN head: the contract, its inner width, the linear-classifier and bad settings."""

from __future__ import annotations

import pytest

from attnseg.models.heads import FCNHead
from tests.models.heads.contract import HeadContract, inner_widths


class TestFCN(HeadContract):
    option, head_class = "fcn", FCNHead

    def test_inner_width_defaults_to_a_quarter_and_is_configurable(self) -> None:
        assert inner_widths(FCNHead(256, 19)) == {64}
        assert inner_widths(FCNHead(256, 19, channels=32)) == {32}

    def test_no_convs_is_a_linear_classifier_and_fewer_is_refused(self) -> None:
        head = FCNHead(64, 5, num_convs=0)
        assert inner_widths(head) == {64} and head.fuse is None and len(head.convs) == 0
        with pytest.raises(ValueError, match="num_convs must be >= 0, got -1"):
            FCNHead(64, 5, num_convs=-1)
