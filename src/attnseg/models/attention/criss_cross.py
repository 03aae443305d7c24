"""Criss-cross attention (CCNet).

CCNet: Criss-Cross Attention for Semantic Segmentation, Huang et al., ICCV 2019 / TPAMI 2020
(https://arxiv.org/abs/1811.11721).

Each pixel attends over the H + W - 1 pixels of its column and its row (itself counted once,
through the row), with one softmax over all of them; ``out = gamma * sum(P v) + x``, ``gamma``
starting at 0. Query/key projections have ``C / 8`` channels. Parameter names (``query_conv``,
``key_conv``, ``value_conv``, ``gamma``) match the official CCNet module, whose weights load
unchanged. Two passes with shared weights connect every pair of pixels.

Attention-map API: ``forward(x, return_attention=True)`` returns ``(out, attn)`` with ``attn``
the dense row-stochastic (B, H*W, H*W) map, row ``i`` = query pixel ``i`` in row-major order,
zero outside that pixel's row and column. It is built only when requested.

The default eager path is :class:`~attnseg.models.attention._criss_cross_function.CrissCrossFunction`
(O(B * HW * (H + W)) memory, no transposed copies); under ``torch.compile`` the same math is
written with einsums so Inductor can trace and fuse it.
"""

from __future__ import annotations

import torch
from torch import nn

from attnseg.models.attention._criss_cross_function import CrissCrossFunction


def criss_cross_probs(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Softmax over each pixel's cross: (B, d, H, W) x2 -> (B, H, W, H + W), at least fp32.

    Entry ``[b, i, j, k]`` weighs pixel ``(k, j)`` for ``k < H`` (the column) and entry
    ``[b, i, j, H + l]`` weighs pixel ``(i, l)`` (the row).
    """
    height = q.shape[2]
    e_col = torch.einsum("bcij,bckj->bijk", q, k)  # (B, H, W, H)
    self_mask = torch.eye(height, dtype=torch.bool, device=q.device).view(height, 1, height)  # (i, 1, k)
    e_col = e_col.masked_fill(self_mask, float("-inf"))  # (i, j) is counted in its row
    e_row = torch.einsum("bcij,bcil->bijl", q, k)  # (B, H, W, W)
    energy = torch.cat([e_col, e_row], dim=-1)  # (B, H, W, H + W)
    return torch.softmax(energy.to(torch.promote_types(energy.dtype, torch.float32)), dim=-1)


def criss_cross_gather(probs: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Weighted sum over each pixel's cross: (B, H, W, H + W), (B, C, H, W) -> (B, C, H, W)."""
    height = v.shape[2]
    probs = probs.to(v.dtype)
    out_col = torch.einsum("bijk,bckj->bcij", probs[..., :height], v)
    return out_col + torch.einsum("bijl,bcil->bcij", probs[..., height:], v)


def dense_attention_map(probs: torch.Tensor) -> torch.Tensor:
    """Scatter (B, H, W, H + W) cross weights into the dense (B, H*W, H*W) attention map."""
    batch, height, width, _ = probs.shape
    rows = torch.arange(height, device=probs.device).view(height, 1, 1)  # (H, 1, 1)
    cols = torch.arange(width, device=probs.device).view(1, width, 1)  # (1, W, 1)
    col_keys = torch.arange(height, device=probs.device).view(1, 1, height) * width + cols  # (1, W, H)
    row_keys = rows * width + torch.arange(width, device=probs.device).view(1, 1, width)  # (H, 1, W)
    keys = torch.cat([col_keys.expand(height, width, height), row_keys.expand(height, width, width)], -1)
    keys = keys.view(1, height * width, height + width).expand(batch, -1, -1)  # (B, N, H + W)
    dense = probs.new_zeros(batch, height * width, height * width)
    return dense.scatter_add(2, keys, probs.reshape(batch, height * width, height + width))  # (B, N, N)


class CrissCrossAttention(nn.Module):
    """CCNet criss-cross attention with a zero-initialised residual ``gamma``.

    Args:
        in_channels: channels of the input (and output) feature map.
        reduction: query/key channels are ``in_channels // reduction`` (8 in CCNet).
    """

    def __init__(self, in_channels: int, reduction: int = 8) -> None:
        super().__init__()
        if in_channels // reduction < 1:
            raise ValueError(f"CrissCrossAttention: in_channels={in_channels} < reduction={reduction}")
        self.query_conv = nn.Conv2d(in_channels, in_channels // reduction, 1)
        self.key_conv = nn.Conv2d(in_channels, in_channels // reduction, 1)
        self.value_conv = nn.Conv2d(in_channels, in_channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(
        self, x: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if return_attention or torch.compiler.is_compiling():
            probs = criss_cross_probs(self.query_conv(x), self.key_conv(x))
            out = self.gamma * criss_cross_gather(probs, self.value_conv(x)) + x
            return (out, dense_attention_map(probs)) if return_attention else out
        convs = (self.query_conv, self.key_conv, self.value_conv)
        weight = torch.cat([c.weight.flatten(1) for c in convs])  # (2d + C, C)
        bias = torch.cat([c.bias for c in convs])  # (2d + C,)
        device = x.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
        return CrissCrossFunction.apply(x, weight, bias, self.gamma, self.query_conv.out_channels, dtype)
