"""Small building blocks shared by the decode heads."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


class ConvNormAct(nn.Sequential):
    """Conv2d -> norm -> activation, with 'same' padding.

    Kept as a plain ``nn.Sequential`` of standard modules (rather than timm's fused
    ``BatchNormAct2d``) so ``SyncBatchNorm.convert_sync_batchnorm`` keeps the activation.
    ``act_layer`` is a class or a factory (``functools.partial(nn.LeakyReLU, negative_slope=0.01)``,
    what Hydra's ``_partial_: true`` builds); ``bias`` adds a conv bias before the norm, as
    CCNet's auxiliary head has.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        *,
        dilation: int = 1,
        bias: bool = False,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        act_layer: Callable[..., nn.Module] = nn.ReLU,
    ) -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=bias),
            norm_layer(out_channels),
            act_layer(inplace=True) if act_layer is nn.ReLU else act_layer(),
        )
