"""CCNet head: the contract (also with the official head's options), one criss-cross attention shared by
every recurrence, its widths, its activation."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from attnseg.models.attention import CrissCrossAttention
from attnseg.models.heads import CCHead
from tests.models.heads.contract import HeadContract, MakeCfg, inner_widths


class TestCCNet(HeadContract):
    option, head_class = "ccnet", CCHead


class TestCCNetOnePass(HeadContract):
    option, head_class = "ccnet_r1", CCHead  # the two-passes diagnostic's R=1

    def test_option_is_ccnet_with_one_pass(self, make_cfg: MakeCfg) -> None:
        assert instantiate(make_cfg("head=ccnet_r1").model.net).head.recurrence == 1
        assert instantiate(make_cfg("head=ccnet").model.net).head.recurrence == 2

    def test_one_attention_is_shared_across_recurrences(self) -> None:
        head = CCHead(32, 3, channels=16, recurrence=3)
        assert sum(isinstance(m, CrissCrossAttention) for m in head.modules()) == 1
        with pytest.raises(ValueError, match="recurrence must be >= 1, got 0"):
            CCHead(32, 3, recurrence=0)

    def test_inner_width_defaults_to_a_quarter_and_is_configurable(self) -> None:
        assert inner_widths(CCHead(256, 19)) == {64}
        assert inner_widths(CCHead(256, 19, channels=32)) == {32}


LEAKY = "{_target_:torch.nn.LeakyReLU,_partial_:true,negative_slope:0.01}"


class TestCCNetOfficial(HeadContract):
    """The official head's options, as cityscapes_ccnet_* sets them: leaky ReLU 0.01 after every
    norm (InPlaceABNSync), a bottleneck wider than the attention, CCNet's own auxiliary head."""

    option, head_class = "ccnet", CCHead
    narrow = (
        "head.bottleneck_channels=40",
        f"+head.act_layer={LEAKY}",
        "model.net.aux_head.channels=24",
        "+model.net.aux_head.conv_bias=true",
        f"+model.net.aux_head.act_layer={LEAKY}",
    )

    def test_options_reach_the_modules(self, make_cfg: MakeCfg) -> None:
        net = self.build(make_cfg)[0].net
        for part in (net.head, net.aux_head):
            acts = [m for m in part.modules() if isinstance(m, nn.ReLU | nn.LeakyReLU)]
            assert acts and all(type(m) is nn.LeakyReLU and m.negative_slope == 0.01 for m in acts)
        assert inner_widths(net.head) == {40} != {net.head.conv[0].out_channels}
        assert all(m.bias is not None for m in net.aux_head.modules() if isinstance(m, nn.Conv2d))

    def test_slope_changes_the_logits(self, make_cfg: MakeCfg) -> None:
        # the slope must act: the same weights give other logits with ReLU
        leaky = self.head_logits(make_cfg)
        relu = self.head_logits(
            make_cfg, "head.act_layer._target_=torch.nn.ReLU", "~head.act_layer.negative_slope"
        )
        assert not torch.allclose(leaky, relu)


def test_defaults_are_the_synthetic_head() -> None:
    # act_layer=ReLU and bottleneck_channels=None build the head the options did not exist for
    torch.manual_seed(0)
    plain = CCHead(32, 3, channels=16)
    torch.manual_seed(0)
    explicit = CCHead(32, 3, channels=16, bottleneck_channels=None, act_layer=nn.ReLU)
    x = torch.randn(2, 32, 9, 11)
    assert torch.equal(plain.eval()(x), explicit.eval()(x))
    assert [type(m) for m in plain.modules()].count(nn.LeakyReLU) == 0


def test_official_widths() -> None:
    head = CCHead(2048, 19, bottleneck_channels=512, act_layer=partial(nn.LeakyReLU, negative_slope=0.01))
    assert head.reduce[0].out_channels == 512 and inner_widths(head) == {512}
    assert CCHead(512, 19, bottleneck_channels=512).reduce[0].out_channels == 128  # ResNet-18: 128 / 512
    assert inner_widths(CCHead(512, 19, bottleneck_channels=512)) == {512}
