"""Non-local head: reduce -> NonLocal2d -> conv -> concat with the input -> fuse -> classifier.

Non-local Neural Networks, Wang et al., CVPR 2018 (https://arxiv.org/abs/1711.07971), in the
segmentation layout of the DANet / CCNet baselines: the block sits between two 3x3 convs of an
FCN head whose output is concatenated with the backbone features and fused by a 3x3 conv.
(The module is ``nonlocal_`` because ``nonlocal`` is a Python keyword.)
"""

from __future__ import annotations

import torch
from torch import nn

from attnseg.models.attention import NonLocal2d
from attnseg.models.layers import ConvNormAct


class NonLocalHead(nn.Module):
    """3x3 reduce, :class:`NonLocal2d`, 3x3 conv, concat input, 3x3 fuse, dropout, classifier.

    Args:
        in_channels: channels of the backbone stage the head reads.
        num_classes: number of output classes.
        channels: inner width; ``None`` means ``in_channels // 4`` (512 for a 2048-channel stage).
        reduction: ``theta``/``phi``/``g`` have ``channels // reduction`` channels.
        use_scale: scale the energies by ``(channels // reduction) ** -0.5``.
        sub_sample: 2x2 max-pool keys and values in the block (the non-local paper's trick).
        block_norm: norm after the block's output projection (mmseg's ``NLHead`` has it; mmcv's
            ``NonLocal2d`` alone does not); ``False`` zero-inits that projection instead.
        dropout: dropout probability before the classifier.
        norm_layer: normalisation layer class.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        channels: int | None = None,
        reduction: int = 2,
        use_scale: bool = True,
        sub_sample: bool = False,
        block_norm: bool = True,
        dropout: float = 0.1,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        channels = channels or max(in_channels // 4, 1)
        self.reduce = ConvNormAct(in_channels, channels, 3, norm_layer=norm_layer)
        self.attention = NonLocal2d(
            channels,
            reduction,
            use_scale=use_scale,
            sub_sample=sub_sample,
            norm_layer=norm_layer if block_norm else None,
        )
        self.conv = ConvNormAct(channels, channels, 3, norm_layer=norm_layer)
        self.fuse = ConvNormAct(in_channels + channels, channels, 3, norm_layer=norm_layer)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(self.attention(self.reduce(x)))
        y = self.fuse(torch.cat([x, y], dim=1))
        return self.classifier(self.dropout(y))
