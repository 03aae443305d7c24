"""Self-attention head: 3x3 reduce -> SAGAN self-attention -> classifier.

Self-Attention Generative Adversarial Networks, Zhang et al., ICML 2019
(https://arxiv.org/abs/1805.08318): the source article's ``Self_Attn`` block used as a decoder.
"""

from __future__ import annotations

import torch
from torch import nn

from attnseg.models.attention import SelfAttention
from attnseg.models.layers import ConvNormAct


class SelfAttentionHead(nn.Module):
    """ConvNormAct reduce, :class:`SelfAttention` over all pixels, dropout, 1x1 classifier.

    Args:
        in_channels: channels of the backbone stage the head reads.
        num_classes: number of output classes.
        channels: inner width; ``None`` means ``in_channels // 4`` (512 for a 2048-channel stage).
        reduction: query/key channels are ``channels // reduction``.
        dropout: dropout probability before the classifier.
        norm_layer: normalisation layer class.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        channels: int | None = None,
        reduction: int = 8,
        dropout: float = 0.1,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        channels = channels or max(in_channels // 4, 1)
        self.reduce = ConvNormAct(in_channels, channels, 3, norm_layer=norm_layer)
        self.attention = SelfAttention(channels, reduction)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.attention(self.reduce(x))))
