"""Small building blocks shared by the decode heads."""

from __future__ import annotations

from torch import nn


class ConvNormAct(nn.Sequential):
    """Conv2d -> norm -> activation, with 'same' padding.

    Kept as a plain ``nn.Sequential`` of standard modules (rather than timm's fused
    ``BatchNormAct2d``) so ``SyncBatchNorm.convert_sync_batchnorm`` keeps the activation.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        *,
        dilation: int = 1,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False),
            norm_layer(out_channels),
            act_layer(inplace=True) if act_layer is nn.ReLU else act_layer(),
        )
