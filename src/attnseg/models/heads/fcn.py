"""FCN head: the no-attention baseline.

Fully Convolutional Networks for Semantic Segmentation, Long et al., CVPR 2015
(https://arxiv.org/abs/1411.4038), in the dilated-backbone form used as the baseline (and as the
auxiliary head) by DANet and CCNet: a few 3x3 convs, optional concat with the input, classifier.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from attnseg.models.layers import ConvNormAct


class FCNHead(nn.Module):
    """Stack of 3x3 ConvNormAct blocks followed by a 1x1 classifier.

    Args:
        in_channels: channels of the backbone stage the head reads.
        num_classes: number of output classes.
        channels: inner width; ``None`` means ``in_channels // 4`` (512 for a 2048-channel stage).
        num_convs: number of 3x3 conv blocks (0 gives a linear classifier).
        concat_input: concatenate the input with the conv output before the classifier.
        dropout: dropout probability before the classifier.
        norm_layer: normalisation layer class.
        act_layer: activation after each norm (class or factory).
        conv_bias: give the 3x3 convs a bias (CCNet's auxiliary head has one before its norm).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        channels: int | None = None,
        num_convs: int = 2,
        concat_input: bool = True,
        dropout: float = 0.1,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: Callable[..., nn.Module] = nn.ReLU,
        conv_bias: bool = False,
    ) -> None:
        super().__init__()
        if num_convs < 0:
            raise ValueError(f"FCNHead: num_convs must be >= 0, got {num_convs}")
        channels = channels or max(in_channels // 4, 1)
        if num_convs == 0:
            channels, concat_input = in_channels, False
        layer = {"bias": conv_bias, "norm_layer": norm_layer, "act_layer": act_layer}
        self.convs = nn.Sequential(
            *[
                ConvNormAct(in_channels if i == 0 else channels, channels, 3, **layer)
                for i in range(num_convs)
            ]
        )
        self.fuse = ConvNormAct(in_channels + channels, channels, 3, **layer) if concat_input else None
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convs(x)
        if self.fuse is not None:
            y = self.fuse(torch.cat([x, y], dim=1))
        return self.classifier(self.dropout(y))
