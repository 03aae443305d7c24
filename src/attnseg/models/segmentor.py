"""Encoder-decoder segmentor: backbone features -> decode head -> upsample once to input size."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from attnseg.models.backbone import TimmBackbone

HeadFactory = Callable[[int, int], nn.Module]


class Segmentor(nn.Module):
    """Backbone + decode head on the last stage (+ auxiliary FCN head on the previous stage).

    Inputs are RGB images in [0, 1]; normalisation with the backbone's mean/std happens here so
    datasets, prediction and export never need to know which backbone is used.

    Args:
        backbone: feature extractor exposing ``channels`` (one entry per stage).
        head: factory ``head(in_channels, num_classes)`` (a Hydra ``_partial_``). A head class with
            the class attribute ``multi_level = True`` gets every stage instead of the last one:
            ``in_channels`` is then the list of stage channels and ``forward`` takes the list of
            features (for FPN / UPerNet / DeepLabV3+ style decoders).
        num_classes: number of classes.
        aux_head: factory for the auxiliary head on the second-to-last stage, or ``None``.
    """

    def __init__(
        self,
        backbone: TimmBackbone,
        head: HeadFactory,
        num_classes: int,
        *,
        aux_head: HeadFactory | None = None,
    ) -> None:
        super().__init__()
        if num_classes <= 0:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes}")
        self.backbone = backbone
        channels = backbone.channels
        self.multi_level = bool(getattr(getattr(head, "func", head), "multi_level", False))
        self.head = head(list(channels) if self.multi_level else channels[-1], num_classes)
        self.aux_head = aux_head(channels[-2], num_classes) if aux_head is not None else None
        self.num_classes = num_classes
        self.register_buffer("mean", torch.tensor(backbone.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(backbone.std).view(1, -1, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Returns ``{"out": logits}`` (B, K, H, W); in training also ``aux`` and any extra head outputs."""
        size = images.shape[-2:]
        features = self.backbone((images - self.mean) / self.std)
        out = self.head(features if self.multi_level else features[-1])
        outputs = dict(out) if isinstance(out, dict) else {"out": out}
        if self.training and self.aux_head is not None:
            outputs["aux"] = self.aux_head(features[-2])
        return {
            name: F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
            for name, logits in outputs.items()
        }
