"""Encoder-decoder segmentor: backbone features -> decode head -> upsample once to input size."""

from __future__ import annotations

import collections.abc
import inspect
import typing
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from attnseg.models.backbone import TimmBackbone

HeadFactory = Callable[..., nn.Module]
# what a head may ask for by naming it as a keyword parameter, derived from the backbone
DERIVED = {"output_stride": lambda backbone: backbone.output_stride}


def reads_every_stage(head: HeadFactory) -> bool:
    """Whether a head consumes every backbone stage, as its signature declares.

    ``in_channels: int`` (or no annotation): the head reads the last stage;
    ``in_channels: Sequence[int]`` (or ``list[int]``): it reads the list of every stage.
    """
    params = list(inspect.signature(head, eval_str=True).parameters.values())
    annotation = params[0].annotation if params else inspect.Parameter.empty
    origin = typing.get_origin(annotation) or annotation
    return isinstance(origin, type) and issubclass(origin, collections.abc.Sequence) and origin is not str


def derived_kwargs(head: HeadFactory, backbone: TimmBackbone) -> dict[str, object]:
    """Values of :data:`DERIVED` for the keyword parameters the head's signature names."""
    params = inspect.signature(head).parameters
    return {name: derive(backbone) for name, derive in DERIVED.items() if name in params}


class Segmentor(nn.Module):
    """Backbone + decode head on the last stage (+ auxiliary FCN head on the previous stage).

    Inputs are RGB images in [0, 1]; normalisation with the backbone's mean/std happens here so
    datasets, prediction and export never need to know which backbone is used.

    Args:
        backbone: feature extractor exposing ``channels`` (one entry per stage) and ``output_stride``.
        head: factory ``head(in_channels, num_classes, **derived)`` (a Hydra ``_partial_``). Its
            signature says what it consumes (:func:`reads_every_stage`): ``in_channels: int`` gets
            the last stage, ``in_channels: Sequence[int]`` the channels of every stage (and
            ``forward`` the list of features: FPN / UPerNet / DeepLabV3+ style decoders). A
            keyword parameter named ``output_stride`` receives the backbone's.
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
        self.every_stage = reads_every_stage(head)
        in_channels = list(channels) if self.every_stage else channels[-1]
        self.head = head(in_channels, num_classes, **derived_kwargs(head, backbone))
        self.aux_head = None
        if aux_head is not None:
            self.aux_head = aux_head(channels[-2], num_classes, **derived_kwargs(aux_head, backbone))
        self.num_classes = num_classes
        self.register_buffer("mean", torch.tensor(backbone.mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(backbone.std).view(1, -1, 1, 1), persistent=False)

    def head_input(self, features: list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
        """What the decode head reads of the backbone's features: the last stage, or all of them."""
        return features if self.every_stage else features[-1]

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Returns ``{"out": logits}`` (B, K, H, W); in training also ``aux`` and any extra head outputs."""
        size = images.shape[-2:]
        features = self.backbone((images - self.mean) / self.std)
        out = self.head(self.head_input(features))
        outputs = dict(out) if isinstance(out, dict) else {"out": out}
        if self.training and self.aux_head is not None:
            outputs["aux"] = self.aux_head(features[-2])
        return {
            name: F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
            for name, logits in outputs.items()
        }
