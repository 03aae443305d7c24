"""Self-attention over the pixels of a feature map, and DANet's position attention module (PAM).

Self-Attention Generative Adversarial Networks, Zhang et al., ICML 2019
(https://arxiv.org/abs/1805.08318); Dual Attention Network for Scene Segmentation, Fu et al.,
CVPR 2019 (https://arxiv.org/abs/1809.02983), whose PAM is the same computation.

``out = gamma * (V softmax(Q^T K)^T) + x`` with ``Q, K`` 1x1 projections to ``C / 8`` channels,
``V`` a 1x1 projection to ``C``, no 1/sqrt(d) scaling, and ``gamma`` starting at 0. Parameter
names (``query_conv``, ``key_conv``, ``value_conv``, ``gamma``) match the source article's
``Self_Attn`` and the official DANet ``PAM_Module``, so their state_dicts load unchanged.

Attention-map API: ``forward(x, return_attention=True)`` returns ``(out, attn)`` with ``attn``
the dense row-stochastic map (B, H*W, H*W); row ``i`` is query pixel ``i`` in row-major order.
Only that explicit path builds an N x N tensor; the default path goes through
:func:`~attnseg.models.attention.functional.dot_product_attention`.
"""

from __future__ import annotations

import torch
from torch import nn

from attnseg.models.attention.functional import dot_product_attention


def explicit_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The article's bmm formulation: returns ``(out (B, C, N), attn (B, N, N))``."""
    energy = torch.bmm(q.transpose(1, 2), k)  # (B, N, N)
    if scale != 1.0:
        energy = energy * scale
    # fp32 softmax keeps half-precision energies from saturating under autocast
    attn = torch.softmax(energy.to(torch.promote_types(energy.dtype, torch.float32)), dim=-1)
    out = torch.bmm(v, attn.to(v.dtype).transpose(1, 2))  # (B, C, N)
    return out, attn


class SelfAttention(nn.Module):
    """SAGAN self-attention with a zero-initialised residual ``gamma``.

    Args:
        in_channels: channels of the input (and output) feature map.
        reduction: query/key channels are ``in_channels // reduction`` (8 in SAGAN and DANet).
    """

    def __init__(self, in_channels: int, reduction: int = 8) -> None:
        super().__init__()
        if in_channels // reduction < 1:
            raise ValueError(f"{type(self).__name__}: in_channels={in_channels} < reduction={reduction}")
        self.query_conv = nn.Conv2d(in_channels, in_channels // reduction, 1)
        self.key_conv = nn.Conv2d(in_channels, in_channels // reduction, 1)
        self.value_conv = nn.Conv2d(in_channels, in_channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(
        self, x: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        batch, channels, height, width = x.shape
        q = self.query_conv(x).flatten(2)  # (B, C/8, N)
        k = self.key_conv(x).flatten(2)  # (B, C/8, N)
        v = self.value_conv(x).flatten(2)  # (B, C, N)
        if return_attention:
            out, attn = explicit_attention(q, k, v)
        else:
            out = dot_product_attention(q, k, v)
        out = out.view(batch, channels, height, width)  # (B, C, H, W)
        out = self.gamma * out + x
        return (out, attn) if return_attention else out


class PositionAttention(SelfAttention):
    """DANet position attention module (PAM): :class:`SelfAttention` under the paper's name.

    Args:
        in_channels: channels of the input (and output) feature map.
        reduction: query/key channels are ``in_channels // reduction`` (8 in DANet).
    """
