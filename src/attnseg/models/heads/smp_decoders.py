"""Baseline decoders from segmentation-models-pytorch (smp), fed by the attnseg timm backbone.

Each head wraps one smp *decoder* module plus a classifier conv, so the baselines share the
backbone, data, recipe and upsampling with the attention heads:

- DeepLabV3: Chen et al., 2017, https://arxiv.org/abs/1706.05587
- DeepLabV3+: Chen et al., ECCV 2018, https://arxiv.org/abs/1802.02611
- PSPNet: Zhao et al., CVPR 2017, https://arxiv.org/abs/1612.01105
- FPN (semantic branch of Panoptic FPN): Kirillov et al., CVPR 2019, https://arxiv.org/abs/1901.02446
- UPerNet: Xiao et al., ECCV 2018, https://arxiv.org/abs/1807.10221

smp decoders index features in smp's encoder layout ``[1/1, 1/2, 1/4, 1/8, 1/16, 1/32]``. In timm's
CNN pyramids the last four stages are C2..C5 (nominal strides 4, 8, 16, 32, capped at the output
stride by dilation) whether the model has five stages (ResNet, EfficientNet, MobileNetV3) or four
(ConvNeXt), so C2..C5 fill the last four slots; none of these decoders reads the first two.
Settings a decoder cannot honour are refused with a ``ValueError``, never silently changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from segmentation_models_pytorch.base import SegmentationHead
from segmentation_models_pytorch.decoders.deeplabv3.decoder import DeepLabV3Decoder, DeepLabV3PlusDecoder
from segmentation_models_pytorch.decoders.fpn.decoder import FPNDecoder
from segmentation_models_pytorch.decoders.pspnet.decoder import PSPDecoder
from segmentation_models_pytorch.decoders.upernet.decoder import UPerNetDecoder
from torch import nn

# smp's depth for a full pyramid: features at 1/2 .. 1/32 after the 1/1 input slot.
_SMP_DEPTH = 5


def _smp_channels(in_channels: Sequence[int], head: str) -> list[int]:
    """Stage channels in smp's layout; the unused 1/1 and 1/2 slots get 0."""
    if len(in_channels) < 4:
        raise ValueError(
            f"{head} needs a backbone with at least 4 stages (C2..C5), got {len(in_channels)} "
            f"(channels {list(in_channels)}); pick another backbone.name"
        )
    return [0, 0, *in_channels[-4:]]


def _smp_features(features: Sequence[torch.Tensor]) -> list[torch.Tensor | None]:
    return [None, None, *features[-4:]]  # smp never reads the 1/1 and 1/2 slots in these decoders


def _check_output_stride(head: str, output_stride: int, allowed: tuple[int, ...], why: str) -> None:
    if output_stride not in allowed:
        expected = " or ".join(str(s) for s in allowed)
        raise ValueError(
            f"{head} needs backbone.output_stride={expected}, got {output_stride}: {why}. "
            f"Set backbone.output_stride={allowed[0]} or pick another head."
        )


def _check_atrous_rates(head: str, atrous_rates: Sequence[int]) -> tuple[int, int, int]:
    if len(atrous_rates) != 3:
        raise ValueError(f"{head}: head.atrous_rates needs 3 dilation rates, got {list(atrous_rates)}")
    return tuple(atrous_rates)


class DeepLabV3Head(nn.Module):
    """ASPP on the last stage (smp ``DeepLabV3Decoder``) + 1x1 classifier.

    Args:
        in_channels: channels of the last backbone stage.
        num_classes: number of output classes.
        output_stride: the backbone's output stride (the segmentor passes it); 8 or 16.
        channels: ASPP width.
        atrous_rates: the three ASPP dilation rates; the paper uses (12, 24, 36) at stride 8 and
            (6, 12, 18) at stride 16.
        separable: depthwise-separable ASPP convs.
        dropout: dropout after the ASPP projection.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        output_stride: int = 8,
        channels: int = 256,
        atrous_rates: Sequence[int] = (12, 24, 36),
        separable: bool = False,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        why = "ASPP rates are defined for a dilated backbone (smp's DeepLabV3 refuses 32 too)"
        _check_output_stride("DeepLabV3Head (head=deeplabv3)", output_stride, (8, 16), why)
        rates = _check_atrous_rates("DeepLabV3Head", atrous_rates)
        self.decoder = DeepLabV3Decoder(in_channels, channels, rates, separable, dropout)
        self.classifier = SegmentationHead(channels, num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.decoder([x]))


class DeepLabV3PlusHead(nn.Module):
    """ASPP on C5, upsampled and fused with the stride-4 stage C2 (smp ``DeepLabV3PlusDecoder``).

    Args:
        in_channels: channels of every backbone stage.
        num_classes: number of output classes.
        output_stride: the backbone's output stride (the segmentor passes it); 8 or 16,
            because smp upsamples the ASPP output by a fixed x2 (stride 8) or x4 (stride 16)
            to meet C2.
        channels: ASPP and fusion width.
        atrous_rates: the three ASPP dilation rates.
        separable: depthwise-separable ASPP and fusion convs (the paper's Xception setting).
        dropout: dropout after the ASPP projection.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        *,
        output_stride: int = 8,
        channels: int = 256,
        atrous_rates: Sequence[int] = (12, 24, 36),
        separable: bool = True,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        why = "smp joins the ASPP output to the stride-4 stage by a fixed x2 or x4 upsampling"
        _check_output_stride("DeepLabV3PlusHead (head=deeplabv3plus)", output_stride, (8, 16), why)
        rates = _check_atrous_rates("DeepLabV3PlusHead", atrous_rates)
        self.decoder = DeepLabV3PlusDecoder(
            encoder_channels=_smp_channels(in_channels, "DeepLabV3PlusHead (head=deeplabv3plus)"),
            encoder_depth=_SMP_DEPTH,
            out_channels=channels,
            atrous_rates=rates,
            output_stride=output_stride,
            aspp_separable=separable,
            aspp_dropout=dropout,
        )
        self.classifier = SegmentationHead(channels, num_classes, kernel_size=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.classifier(self.decoder(_smp_features(features)))  # (B, K, H/4, W/4)


class PSPHead(nn.Module):
    """Pyramid pooling (bins 1, 2, 3, 6) on the last stage (smp ``PSPDecoder``) + 3x3 classifier.

    Args:
        in_channels: channels of the last backbone stage.
        num_classes: number of output classes.
        channels: width after the pyramid pooling module.
        dropout: dropout before the classifier.
    """

    def __init__(
        self, in_channels: int, num_classes: int, *, channels: int = 512, dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.decoder = PSPDecoder([in_channels], out_channels=channels, dropout=dropout)
        self.classifier = SegmentationHead(channels, num_classes, kernel_size=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.decoder([x]))


class FPNHead(nn.Module):
    """Panoptic-FPN semantic branch over C2..C5 (smp ``FPNDecoder``) + 1x1 classifier.

    Args:
        in_channels: channels of every backbone stage.
        num_classes: number of output classes.
        output_stride: the backbone's output stride (the segmentor passes it); must be 32,
            because smp's top-down path upsamples x2 between consecutive stages.
        pyramid_channels: width of the top-down pyramid.
        segmentation_channels: width of each level's upsampling branch (a multiple of 32:
            GroupNorm with 32 groups).
        dropout: spatial dropout on the merged pyramid.
        merge_policy: ``add`` or ``cat`` the four upsampled levels.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        num_classes: int,
        *,
        output_stride: int = 32,
        pyramid_channels: int = 256,
        segmentation_channels: int = 128,
        dropout: float = 0.2,
        merge_policy: str = "add",
    ) -> None:
        super().__init__()
        why = "smp's FPNDecoder upsamples x2 between stages, so C2..C5 must have strides 4, 8, 16, 32"
        _check_output_stride("FPNHead (head=fpn)", output_stride, (32,), why)
        self.decoder = FPNDecoder(
            encoder_channels=_smp_channels(in_channels, "FPNHead (head=fpn)"),
            encoder_depth=_SMP_DEPTH,
            pyramid_channels=pyramid_channels,
            segmentation_channels=segmentation_channels,
            dropout=dropout,
            merge_policy=merge_policy,
        )
        self.classifier = SegmentationHead(self.decoder.out_channels, num_classes, kernel_size=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.classifier(self.decoder(_smp_features(features)))  # (B, K, H/4, W/4)


class UPerNetHead(nn.Module):
    """Pyramid pooling on C5 + FPN over C2..C4, fused at stride 4 (smp ``UPerNetDecoder``).

    smp resizes by target size rather than by a fixed factor, so any output stride works.

    Args:
        in_channels: channels of every backbone stage.
        num_classes: number of output classes.
        channels: width of the pyramid pooling, FPN and fusion convs.
    """

    def __init__(self, in_channels: Sequence[int], num_classes: int, *, channels: int = 256) -> None:
        super().__init__()
        self.decoder = UPerNetDecoder(
            encoder_channels=_smp_channels(in_channels, "UPerNetHead (head=upernet)"),
            encoder_depth=_SMP_DEPTH,
            decoder_channels=channels,
        )
        self.classifier = SegmentationHead(channels, num_classes, kernel_size=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.classifier(self.decoder(_smp_features(features)))  # (B, K, H/4, W/4)
