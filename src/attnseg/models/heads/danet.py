"""DANet head: position (PAM) and channel (CAM) attention branches, summed.

Dual Attention Network for Scene Segmentation, Fu et al., CVPR 2019
(https://arxiv.org/abs/1809.02983). Each branch is 3x3 reduce -> attention -> 3x3 conv; the sum of
the two branches is classified. In training each branch also gets its own classifier and loss,
as in the paper (outputs ``pam`` and ``cam``; ``model.loss_weights`` weighs them, 1.0 by default).
``branches`` keeps one of them for the paper's single-branch ablation (its Table 1: PAM only, CAM
only, both): the one branch is then classified alone, with no extra output.
"""

from __future__ import annotations

from collections.abc import Sequence

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
        branches: the attention branches built: ``("pam", "cam")`` (the paper's head), ``("pam",)``
            or ``("cam",)``.
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
        branches: Sequence[str] = ("pam", "cam"),
    ) -> None:
        super().__init__()
        self.branches = tuple(branches)
        if (
            not self.branches
            or len(set(self.branches)) != len(self.branches)
            or not set(self.branches) <= {"pam", "cam"}
        ):
            raise ValueError(f"head.branches must be [pam, cam], [pam] or [cam], got {list(branches)}")
        channels = channels or max(in_channels // 4, 1)
        if "pam" in self.branches:
            self.pam_in = ConvNormAct(in_channels, channels, 3, norm_layer=norm_layer)
            self.pam = PositionAttention(channels, reduction)
            self.pam_out = ConvNormAct(channels, channels, 3, norm_layer=norm_layer)
        if "cam" in self.branches:
            self.cam_in = ConvNormAct(in_channels, channels, 3, norm_layer=norm_layer)
            self.cam = ChannelAttention(channels)
            self.cam_out = ConvNormAct(channels, channels, 3, norm_layer=norm_layer)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)
        if len(self.branches) == 2:  # each branch's own prediction and loss
            self.pam_classifier = nn.Conv2d(channels, num_classes, 1)
            self.cam_classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        features = {}
        if "pam" in self.branches:
            features["pam"] = self.pam_out(self.pam(self.pam_in(x)))
        if "cam" in self.branches:
            features["cam"] = self.cam_out(self.cam(self.cam_in(x)))
        out = self.classifier(self.dropout(sum(features.values())))
        if not self.training or len(features) == 1:
            return out
        return {
            "out": out,
            "pam": self.pam_classifier(self.dropout(features["pam"])),
            "cam": self.cam_classifier(self.dropout(features["cam"])),
        }
