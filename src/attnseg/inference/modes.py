"""Test-time inference: whole image, sliding window, multi-scale + horizontal flip.

The three modes are one object with different settings, so they compose: multi-scale with
flip runs each scaled (and flipped) view through the sliding window when one is set, as in the
CCNet / DANet evaluation protocol.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

Model = Callable[[torch.Tensor], torch.Tensor]  # images (B, 3, H, W) in [0, 1] -> logits (B, K, H, W)


class SegmentationInference:
    """Turns a model's logits into test-time scores for whole images.

    With a single view (one scale, no flip) the scores are the model's logits (averaged where
    sliding windows overlap). With several views they are the mean of the views' softmax
    probabilities, each resized back to the input size; ``argmax`` gives the labels either way.

    Args:
        crop_size: sliding-window size ``(h, w)`` or one int for a square; ``None`` runs the whole
            image in one pass. An image (after scaling) that fits in the window also runs in one pass.
        stride: step between windows ``(h, w)`` or one int; ``None`` is two thirds of the window.
            It may not exceed the window, or pixels would be skipped.
        scales: image scales, e.g. ``[0.5, 0.75, 1.0, 1.25, 1.5, 1.75]``; ``[1.0]`` is single-scale.
        flip: also run the horizontally flipped image of every scale.
    """

    def __init__(
        self,
        crop_size: int | Sequence[int] | None = None,
        stride: int | Sequence[int] | None = None,
        scales: Sequence[float] = (1.0,),
        flip: bool = False,
    ) -> None:
        self.crop_size = _pair(crop_size, "inference.crop_size")
        if stride is not None and self.crop_size is None:
            raise ValueError("inference.stride needs inference.crop_size (the sliding-window size)")
        self.stride = _pair(stride, "inference.stride")
        if self.crop_size is not None and self.stride is None:
            self.stride = (max(self.crop_size[0] * 2 // 3, 1), max(self.crop_size[1] * 2 // 3, 1))
        if self.stride is not None and any(s > c for s, c in zip(self.stride, self.crop_size, strict=True)):
            raise ValueError(
                f"inference.stride {list(self.stride)} is larger than inference.crop_size "
                f"{list(self.crop_size)}: pixels between windows would never be predicted"
            )
        self.scales = tuple(float(s) for s in scales)
        if not self.scales or any(s <= 0 for s in self.scales):
            raise ValueError(f"inference.scales must be a non-empty list of positive numbers, got {scales}")
        self.flip = bool(flip)

    def settings(self) -> dict[str, Any]:
        """The settings as plain values (written next to the results)."""
        pair = lambda p: list(p) if p is not None else None  # noqa: E731
        return {
            "crop_size": pair(self.crop_size),
            "stride": pair(self.stride),
            "scales": list(self.scales),
            "flip": self.flip,
        }

    @torch.inference_mode()
    def __call__(self, model: Model, images: torch.Tensor) -> torch.Tensor:
        """Scores (B, K, H, W) for images (B, 3, H, W) in [0, 1]."""
        size = images.shape[-2:]
        views = [
            (scale, flip) for scale in self.scales for flip in ((False, True) if self.flip else (False,))
        ]
        total: torch.Tensor | None = None
        for scale, flip in views:
            x = images
            if scale != 1.0:
                scaled = (max(int(size[0] * scale + 0.5), 1), max(int(size[1] * scale + 0.5), 1))
                x = F.interpolate(x, size=scaled, mode="bilinear", align_corners=False)
            logits = self._windows(model, x.flip(-1) if flip else x)
            logits = logits.flip(-1) if flip else logits
            if logits.shape[-2:] != size:
                logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
            if len(views) == 1:
                return logits
            probs = logits.float().softmax(dim=1)
            total = probs if total is None else total + probs
        return total / len(views)

    def predict(self, model: Model, images: torch.Tensor) -> torch.Tensor:
        """Label maps (B, H, W)."""
        return self(model, images).argmax(dim=1)

    def _windows(self, model: Model, images: torch.Tensor) -> torch.Tensor:
        """Logits of the whole image, or of overlapping windows averaged where they overlap."""
        if self.crop_size is None:
            return model(images)
        height, width = images.shape[-2:]
        crop_h, crop_w = min(self.crop_size[0], height), min(self.crop_size[1], width)
        scores: torch.Tensor | None = None
        count = images.new_zeros(1, 1, height, width)
        for y in _starts(height, crop_h, self.stride[0]):
            for x in _starts(width, crop_w, self.stride[1]):
                logits = model(images[..., y : y + crop_h, x : x + crop_w])  # (B, K, crop_h, crop_w)
                if scores is None:
                    scores = logits.new_zeros(*logits.shape[:2], height, width)
                scores[..., y : y + crop_h, x : x + crop_w] += logits
                count[..., y : y + crop_h, x : x + crop_w] += 1
        return scores / count


def _starts(size: int, crop: int, stride: int) -> list[int]:
    """Window offsets covering ``size``; the last window is shifted back to end at the border."""
    steps = max(math.ceil((size - crop) / stride), 0) + 1
    return sorted({min(i * stride, size - crop) for i in range(steps)})


def _pair(value: int | Sequence[int] | None, key: str) -> tuple[int, int] | None:
    if value is None:
        return None
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(not isinstance(v, int) or v <= 0 for v in pair):
        raise ValueError(f"{key} must be a positive int or a pair [h, w] of them, got {value!r}")
    return pair
