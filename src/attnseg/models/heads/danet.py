"""DANet head: position (PAM) and channel (CAM) attention branches, summed.

Dual Attention Network for Scene Segmentation, Fu et al., CVPR 2019
(https://arxiv.org/abs/1809.02983). Each branch is 3x3 reduce -> attention -> 3x3 conv; the sum of
the two branches is classified. In training each branch also gets its own classifier and loss,
as in the paper (outputs ``pam`` and ``cam``; ``model.loss_weights`` weighs them, 1.0 by default).
"""

from __future__ import annotations

import torch
from torch import nn

from attnseg.models.attention import ChannelAttention, PositionAttention
from attnseg.models.layers import ConvNormAct


class DANetHead(nn.Module):
    """PAM and CAM branches from the backbone features; ``{"out", "pam", "cam"}`` in training.

    Args:
        in_channels: channels of the backbone stage the head reads.
        num_classes: number of output classes.
        channels: inner width of each branch; ``None`` means ``in_channels // 4``.
        reduction: PAM query/key channels are ``channels // reduction``.
        dropout: dropout probability before each classifier.
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
        self.pam_in = ConvNormAct(in_channels, channels, 3, norm_layer=norm_layer)
        self.pam = PositionAttention(channels, reduction)
        self.pam_out = ConvNormAct(channels, channels, 3, norm_layer=norm_layer)
        self.cam_in = ConvNormAct(in_channels, channels, 3, norm_layer=norm_layer)
        self.cam = ChannelAttention(channels)
        self.cam_out = ConvNormAct(channels, channels, 3, norm_layer=norm_layer)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)
        self.pam_classifier = nn.Conv2d(channels, num_classes, 1)
        self.cam_classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        pam = self.pam_out(self.pam(self.pam_in(x)))
        cam = self.cam_out(self.cam(self.cam_in(x)))
        out = self.classifier(self.dropout(pam + cam))
        if not self.training:
            return out
        return {
            "out": out,
            "pam": self.pam_classifier(self.dropout(pam)),
            "cam": self.cam_classifier(self.dropout(cam)),
        }
