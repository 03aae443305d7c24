"""Non-local head: the contract (also sub-sampled, without the norm after W_z), its inner width, the
block's sub-sampling and norm options."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attnseg.models.attention import NonLocal2d
from attnseg.models.heads import NonLocalHead
from tests.models.heads.contract import HeadContract, MakeCfg, inner_widths


class TestNonLocal(HeadContract):
    option, head_class = "nonlocal", NonLocalHead

    def test_inner_width_defaults_to_a_quarter_and_is_configurable(self) -> None:
        assert inner_widths(NonLocalHead(256, 19)) == {64}
        assert inner_widths(NonLocalHead(256, 19, channels=32)) == {32}


class TestNonLocalSubSampledNoNorm(HeadContract):
    """The block's authors' and mmcv's variants: phi and g max-pooled 2x2, no norm after W_z."""

    option, head_class = "nonlocal", NonLocalHead
    narrow = ("head.sub_sample=true", "head.block_norm=false")

    def test_options_reach_the_block(self, make_cfg: MakeCfg) -> None:
        block = self.build(make_cfg)[0].net.head.attention
        assert isinstance(block.pool, nn.MaxPool2d) and isinstance(block.norm, nn.Identity)
        assert block.out_proj.bias is not None


def _block(**options) -> NonLocal2d:
    torch.manual_seed(0)
    return NonLocal2d(16, **options).eval()


@pytest.mark.parametrize("options", [{}, {"sub_sample": True}, {"norm_layer": None}], ids=str)
def test_block_starts_as_the_identity(options) -> None:
    x = torch.randn(2, 16, 6, 8)
    assert torch.equal(_block(**options)(x), x)


def test_sub_sample_pools_keys_and_values_only() -> None:
    block = _block(sub_sample=True)
    nn.init.normal_(block.norm.weight)  # open the block
    x = torch.randn(2, 16, 6, 8)
    out, attn = block(x, return_attention=True)
    assert attn.shape == (2, 6 * 8, 3 * 4)  # every query, a quarter of the keys
    theta = block.theta(x).flatten(2)
    phi, g = (F.max_pool2d(conv(x), 2).flatten(2) for conv in (block.phi, block.g))
    probs = torch.softmax(theta.transpose(1, 2) @ phi * block.scale, -1)  # (B, N, N/4)
    y = (g @ probs.transpose(1, 2)).view(2, -1, 6, 8)
    torch.testing.assert_close(out, x + block.norm(block.out_proj(y)))
    torch.testing.assert_close(block(x), out)  # the fused path agrees with the explicit one


def test_without_norm_the_output_projection_is_the_zero_gate() -> None:
    block = _block(norm_layer=None)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in block.modules())
    assert not block.out_proj.weight.any() and not block.out_proj.bias.any()
    default = _block()
    assert default.out_proj.bias is None and default.out_proj.weight.any()  # unchanged default


def test_head_options_reach_the_block() -> None:
    head = NonLocalHead(64, 3, sub_sample=True, block_norm=False)
    assert isinstance(head.attention.pool, nn.MaxPool2d) and isinstance(head.attention.norm, nn.Identity)
    assert isinstance(NonLocalHead(64, 3).attention.norm, nn.BatchNorm2d)
