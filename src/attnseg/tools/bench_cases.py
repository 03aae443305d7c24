"""The cases of ``attnseg-bench``: each attention module, and the naive formulations it is measured
against (the article's explicit-bmm ``Self_Attn``, a masked dense criss-cross, the einsum
criss-cross of mmcv's formulation), with the floors the efficient ones must clear."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from attnseg.models.attention import (
    ChannelAttention,
    CrissCrossAttention,
    NonLocal2d,
    PositionAttention,
    SelfAttention,
)
from attnseg.models.attention.criss_cross import criss_cross_gather, criss_cross_probs

BASELINE = "seed Self_Attn"


def _naive_criss_cross(m: CrissCrossAttention) -> Callable[[torch.Tensor], torch.Tensor]:
    """Criss-cross as a masked dense softmax: full (HW) x (HW) energies, -inf off the cross."""
    masks: dict[tuple[int, int], torch.Tensor] = {}

    def forward(x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        if (height, width) not in masks:  # a constant, built before the measured steps
            r = torch.arange(height * width, device=x.device)
            rows, cols = r // width, r % width
            masks[height, width] = (rows[:, None] == rows[None]) | (cols[:, None] == cols[None])
        q, k, v = (c(x).flatten(2) for c in (m.query_conv, m.key_conv, m.value_conv))  # (B, c, N)
        energy = torch.bmm(q.transpose(1, 2), k).masked_fill(~masks[height, width], float("-inf"))
        out = torch.bmm(v, torch.softmax(energy, dim=-1).transpose(1, 2))  # (B, C, N)
        return m.gamma * out.view(batch, channels, height, width) + x

    return forward


def _einsum_criss_cross(m: CrissCrossAttention) -> Callable[[torch.Tensor], torch.Tensor]:
    """The straightforward O(HW (H + W)) version: einsum energies + autograd (the compile path)."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        probs = criss_cross_probs(m.query_conv(x), m.key_conv(x))
        return m.gamma * criss_cross_gather(probs, m.value_conv(x)) + x

    return forward


def _explicit(m: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The bmm path that also returns the N x N map (op for op the article's ``Self_Attn``)."""
    return lambda x: m(x, return_attention=True)[0]


# name -> (module factory, forward factory)
CASES: dict[str, tuple[Callable[[int], nn.Module], Callable[[nn.Module], Callable]]] = {
    BASELINE: (SelfAttention, _explicit),
    "SelfAttention": (SelfAttention, lambda m: m),
    "PositionAttention (PAM)": (PositionAttention, lambda m: m),
    "NonLocal2d explicit bmm": (NonLocal2d, _explicit),
    "NonLocal2d": (NonLocal2d, lambda m: m),
    "ChannelAttention (CAM)": (ChannelAttention, lambda m: m),
    "criss-cross masked dense": (CrissCrossAttention, _naive_criss_cross),
    "criss-cross einsum autograd": (CrissCrossAttention, _einsum_criss_cross),
    "CrissCrossAttention": (CrissCrossAttention, lambda m: m),
}
# efficient module -> (memory floor, speed floor) against the baseline, fwd+bwd at batch 1
FLOORS = {
    "CrissCrossAttention": (11.0, 10.0),
    "SelfAttention": (5.0, 1.0),
    "PositionAttention (PAM)": (5.0, 1.0),
    "NonLocal2d": (5.0, 1.0),
}
