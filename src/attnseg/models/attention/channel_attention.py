"""DANet channel attention module (CAM).

Dual Attention Network for Scene Segmentation, Fu et al., CVPR 2019
(https://arxiv.org/abs/1809.02983).

Channels attend to channels: ``energy = X X^T`` over the flattened pixels (C x C), and, as in the
official code, the softmax is taken over ``rowmax(energy) - energy`` (mathematically the softmax of
``-energy``: channels that are *less* similar get more weight). ``out = gamma * (A X) + x`` with
``gamma`` starting at 0. No parameters besides ``gamma``.

Attention-map API: ``forward(x, return_attention=True)`` returns ``(out, attn)`` with ``attn``
the row-stochastic (B, C, C) channel map; it costs nothing extra (the map is always built).
"""

from __future__ import annotations

import torch
from torch import nn


class ChannelAttention(nn.Module):
    """DANet CAM with a zero-initialised residual ``gamma``.

    Args:
        in_channels: channels of the input (and output) feature map.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(
        self, x: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        batch, channels, height, width = x.shape
        feats = x.flatten(2)  # (B, C, N)
        acc = torch.promote_types(x.dtype, torch.float32)
        # energies are sums over H*W products: fp16 would overflow and bf16 would round them
        # to a few significant digits, so this C x C map is always computed in fp32
        with torch.autocast(x.device.type, enabled=False):
            energy = torch.bmm(feats.to(acc), feats.to(acc).transpose(1, 2))  # (B, C, C)
            energy = energy.amax(dim=-1, keepdim=True) - energy
            attn = torch.softmax(energy, dim=-1)
            out = torch.bmm(attn.to(x.dtype), feats)  # (B, C, N)
        out = self.gamma * out.view(batch, channels, height, width) + x  # (B, C, H, W)
        return (out, attn) if return_attention else out

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}"
