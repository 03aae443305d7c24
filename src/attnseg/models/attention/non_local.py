"""Non-local block, embedded-Gaussian version.

Non-local Neural Networks, Wang et al., CVPR 2018 (https://arxiv.org/abs/1711.07971).

``z = x + BN(W_z y)``, ``y_i = sum_j softmax_j(theta(x_i) . phi(x_j) / sqrt(d)) g(x_j)`` with
``theta``, ``phi``, ``g`` 1x1 projections to ``d = in_channels // reduction`` channels. The norm
after the output projection starts with zero weight and bias, so the block starts as the
identity (the paper's initialisation). ``use_scale`` divides the energies by sqrt(d), as the
authors' code does by default. ``sub_sample`` max-pools ``phi`` and ``g`` 2x2 (the paper's
sub-sampling trick, Sec. 3.3: a quarter of the keys, the same map on every query). With
``norm_layer=None`` there is no norm after ``W_z`` (mmcv's ``NonLocal2d`` default): ``W_z`` then
has a bias and starts at zero, so the block still starts as the identity.

Attention-map API: ``forward(x, return_attention=True)`` returns ``(out, attn)`` with ``attn``
the dense row-stochastic (B, H*W, H*W) map (with ``sub_sample``: (B, H*W, (H//2)*(W//2))), row
``i`` = query pixel ``i`` in row-major order. Only that explicit path builds an N x N tensor.
"""

from __future__ import annotations

import torch
from torch import nn

from attnseg.models.attention.functional import dot_product_attention, sdpa_attention
from attnseg.models.attention.self_attention import explicit_attention


class NonLocal2d(nn.Module):
    """Embedded-Gaussian non-local block over a 2-D feature map.

    Args:
        in_channels: channels of the input (and output) feature map.
        reduction: ``theta``/``phi``/``g`` have ``in_channels // reduction`` channels.
        use_scale: scale the energies by ``(in_channels // reduction) ** -0.5``.
        sub_sample: 2x2 max-pool ``phi`` and ``g`` (keys and values) after their projections.
        norm_layer: norm after the output projection, zero-initialised; ``None``: no norm, the
            output projection gets a bias and is zero-initialised instead.
    """

    def __init__(
        self,
        in_channels: int,
        reduction: int = 2,
        *,
        use_scale: bool = True,
        sub_sample: bool = False,
        norm_layer: type[nn.Module] | None = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        inner = in_channels // reduction
        if inner < 1:
            raise ValueError(f"NonLocal2d: in_channels={in_channels} < reduction={reduction}")
        self.theta = nn.Conv2d(in_channels, inner, 1)
        self.phi = nn.Conv2d(in_channels, inner, 1)
        self.g = nn.Conv2d(in_channels, inner, 1)
        self.pool = nn.MaxPool2d(2) if sub_sample else nn.Identity()
        self.out_proj = nn.Conv2d(inner, in_channels, 1, bias=norm_layer is None)
        self.norm = nn.Identity() if norm_layer is None else norm_layer(in_channels)
        # whichever comes last starts at zero: the block starts as the identity
        for p in (self.out_proj if norm_layer is None else self.norm).parameters():
            nn.init.zeros_(p)
        self.scale = inner**-0.5 if use_scale else 1.0
        self.sub_sample = sub_sample

    def forward(
        self, x: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        batch, _, height, width = x.shape
        theta = self.theta(x).flatten(2)  # (B, d, N)
        phi = self.pool(self.phi(x)).flatten(2)  # (B, d, M), M = N or N/4 when sub-sampled
        g = self.pool(self.g(x)).flatten(2)  # (B, d, M)
        if return_attention:
            y, attn = explicit_attention(theta, phi, g, self.scale)
        elif self.sub_sample:  # the CPU recompute kernel needs as many keys as queries
            y = sdpa_attention(theta, phi, g, self.scale)
        else:
            y = dot_product_attention(theta, phi, g, self.scale)
        y = y.view(batch, -1, height, width)  # (B, d, H, W)
        out = x + self.norm(self.out_proj(y))
        return (out, attn) if return_attention else out
