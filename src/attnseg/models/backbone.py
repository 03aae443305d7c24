"""timm backbones dilated to a fixed output stride (DeepLab / CCNet style).

The last stages keep their resolution and use dilated convolutions instead of striding, so the
decode head sees features at 1/8 (or 1/16) of the input size. Channels and strides are read from
timm's ``feature_info``; nothing about a backbone is typed into a config.
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn


class TimmBackbone(nn.Module):
    """Multi-scale feature extractor around ``timm.create_model(..., features_only=True)``.

    Args:
        name: timm model name, e.g. ``resnet50d``.
        output_stride: stride of the last feature map, 8 or 16 (32 disables dilation).
        pretrained: load timm's pretrained weights (needs the Hugging Face hub or its cache).
        weights: path to a local checkpoint file (``.pth``/``.safetensors``) with the full
            classification model's weights; takes precedence over ``pretrained``.
        drop_path_rate: stochastic depth rate, for the backbones that support it.
    """

    def __init__(
        self,
        name: str,
        *,
        output_stride: int = 8,
        pretrained: bool = False,
        weights: str | None = None,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"backbone.output_stride must be 8, 16 or 32, got {output_stride}")
        kwargs: dict = {"features_only": True, "pretrained": pretrained}
        if weights is not None:
            path = Path(weights).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"backbone.weights: no such file {str(path)!r}")
            kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": str(path)})
        if output_stride != 32:
            kwargs["output_stride"] = output_stride
        if drop_path_rate:
            kwargs["drop_path_rate"] = drop_path_rate
        try:
            self.body = timm.create_model(name, **kwargs)
        except TypeError as err:  # models whose constructor has no output_stride (ViT, MaxViT, ...)
            if "output_stride" not in str(err):
                raise
            raise ValueError(
                f"backbone {name!r} cannot be dilated to output_stride={output_stride}: {err}. "
                "Pick a CNN that timm can dilate (ResNet, EfficientNet, MobileNetV3, ConvNeXt, ...)."
            ) from err
        except RuntimeError as err:
            if "Unknown model" in str(err) or "unknown model" in str(err).lower():
                raise ValueError(f"backbone.name: timm has no model {name!r}") from err
            raise
        reduction = self.body.feature_info.reduction()[-1]
        if reduction != output_stride:
            raise ValueError(
                f"backbone {name!r} ignored output_stride={output_stride}: its last feature map has "
                f"stride {reduction}. Pick a backbone that timm can dilate."
            )
        self.name = name
        self.output_stride = output_stride
        cfg = getattr(self.body, "pretrained_cfg", None) or {}
        # The segmentor normalises inputs with these, so data pipelines stay backbone-agnostic.
        self.mean: tuple[float, ...] = tuple(cfg.get("mean", (0.485, 0.456, 0.406)))
        self.std: tuple[float, ...] = tuple(cfg.get("std", (0.229, 0.224, 0.225)))

    @property
    def channels(self) -> list[int]:
        return self.body.feature_info.channels()

    @property
    def reductions(self) -> list[int]:
        return self.body.feature_info.reduction()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.body(x)
