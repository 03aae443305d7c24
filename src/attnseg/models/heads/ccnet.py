"""CCNet head: recurrent criss-cross attention (RCCA).

CCNet: Criss-Cross Attention for Semantic Segmentation, Huang et al., ICCV 2019
(https://arxiv.org/abs/1811.11721). One criss-cross pass links a pixel to its row and column; two
passes with shared weights (``recurrence=2``, the paper's default) link every pair of pixels.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from attnseg.models.attention import CrissCrossAttention
from attnseg.models.layers import ConvNormAct


class CCHead(nn.Module):
    """3x3 reduce, ``recurrence`` x :class:`CrissCrossAttention` (shared), 3x3 conv, concat input,
    3x3 bottleneck, dropout, 1x1 classifier.

    Args:
        in_channels: channels of the backbone stage the head reads.
        num_classes: number of output classes.
        channels: width of the reduce conv, the attention and the conv after it; ``None`` means
            ``in_channels // 4`` (the official ``RCCAModule``'s ``inter_channels``).
        bottleneck_channels: width of the bottleneck and the classifier's input; ``None`` means
            ``channels``. The official head fixes it at 512 whatever the input.
        recurrence: number of criss-cross passes, sharing one set of weights.
        reduction: query/key channels are ``channels // reduction``.
        dropout: dropout probability before the classifier.
        norm_layer: normalisation layer class.
        act_layer: activation after each norm (class or factory). The official head's
            InPlaceABNSync is BN + leaky ReLU of slope 0.01: ``partial(nn.LeakyReLU, negative_slope=0.01)``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        channels: int | None = None,
        recurrence: int = 2,
        reduction: int = 8,
        bottleneck_channels: int | None = None,
        dropout: float = 0.1,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: Callable[..., nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        if recurrence < 1:
            raise ValueError(f"CCHead: recurrence must be >= 1, got {recurrence}")
        channels = channels or max(in_channels // 4, 1)
        bottleneck_channels = bottleneck_channels or channels
        layer = {"norm_layer": norm_layer, "act_layer": act_layer}
        self.recurrence = recurrence
        self.reduce = ConvNormAct(in_channels, channels, 3, **layer)
        self.attention = CrissCrossAttention(channels, reduction)
        self.conv = ConvNormAct(channels, channels, 3, **layer)
        self.bottleneck = ConvNormAct(in_channels + channels, bottleneck_channels, 3, **layer)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(bottleneck_channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.reduce(x)
        for _ in range(self.recurrence):
            y = self.attention(y)
        y = self.bottleneck(torch.cat([x, self.conv(y)], dim=1))
        return self.classifier(self.dropout(y))
