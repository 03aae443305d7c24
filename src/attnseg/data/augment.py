"""Joint image/mask augmentations missing from torchvision ``transforms.v2``.

The training recipe of the segmentation benchmarks (PSPNet, DANet, CCNet, mmsegmentation):
rescale by a random ratio of a base size, crop a fixed window (padding the image with 0 and the
mask with the ignore index where the image is too small), flip, photometric distortion. The
flip and the photometric distortion are torchvision's own; the two pieces below fill the gaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF


class RandomScale(v2.Transform):
    """Resize image and mask together by one ratio drawn uniformly from ``ratio_range``.

    The ratio applies to the size the sample arrives with, so the base size is the native
    resolution, or the ``image_size`` a dataset resized to on load. Masks use nearest neighbour.

    Args:
        ratio_range: smallest and largest ratio, e.g. ``(0.5, 2.0)``.
    """

    def __init__(self, ratio_range: Sequence[float] = (0.5, 2.0)) -> None:
        super().__init__()
        low, high = (float(r) for r in ratio_range)
        if not 0 < low <= high:
            raise ValueError(f"RandomScale: ratio_range must satisfy 0 < low <= high, got {ratio_range}")
        self.ratio_range = (low, high)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        spatial = [x for x in flat_inputs if isinstance(x, tv_tensors.Image | tv_tensors.Mask)]
        if not spatial:
            raise TypeError("RandomScale expects a tv_tensors.Image or tv_tensors.Mask among its inputs")
        height, width = TF.get_size(spatial[0])
        low, high = self.ratio_range
        ratio = low + float(torch.rand(())) * (high - low)
        return {"size": [max(1, round(height * ratio)), max(1, round(width * ratio))]}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        # the functional dispatches on the tensor type: bilinear for images, nearest for masks
        return self._call_kernel(TF.resize, inpt, size=params["size"], antialias=True)


def random_crop(size: int | Sequence[int], ignore_index: int = 255) -> v2.RandomCrop:
    """A ``RandomCrop`` that pads small samples: the image with 0, the mask with ``ignore_index``.

    Padded pixels carry the ignore label, so they add nothing to the loss or the metrics.
    (A factory because ``v2.RandomCrop`` keys per-type fill values by class, which YAML cannot.)
    """
    fill = {tv_tensors.Image: 0, tv_tensors.Mask: ignore_index}
    return v2.RandomCrop(size, pad_if_needed=True, fill=fill)


# RGB -> YIQ (NTSC): Y is luma, I/Q the chroma plane; rotating I/Q turns the hue
RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64
)


class PhotometricDistortion(v2.Transform):
    """Random brightness, contrast, saturation and hue of the image; masks pass through untouched.

    The distortion of the SSD / mmsegmentation recipe, each part applied with probability ``p``:
    brightness adds a shift, contrast multiplies, saturation and hue scale and rotate the chroma
    plane in YIQ space. Saturation and hue are one 3x3 colour matrix, a few times cheaper than an
    HSV round trip (``v2.ColorJitter``), which matters on the data-loading critical path.

    Args:
        brightness: largest brightness shift, in 0..255 intensity units.
        contrast: range of the contrast factor.
        saturation: range of the saturation factor (0: grey).
        hue: largest hue rotation, in degrees.
        p: probability of each of the four distortions.
    """

    def __init__(
        self,
        brightness: float = 32.0,
        contrast: Sequence[float] = (0.5, 1.5),
        saturation: Sequence[float] = (0.5, 1.5),
        hue: float = 18.0,
        p: float = 0.5,
    ) -> None:
        super().__init__()
        self.brightness, self.hue, self.p = float(brightness), float(hue), float(p)
        self.contrast = tuple(float(c) for c in contrast)
        self.saturation = tuple(float(s) for s in saturation)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        def draw(low: float, high: float, identity: float) -> float:
            if float(torch.rand(())) >= self.p:
                return identity
            return low + float(torch.rand(())) * (high - low)

        shift = draw(-self.brightness, self.brightness, 0.0)
        factor = draw(*self.contrast, 1.0)
        sat = draw(*self.saturation, 1.0)
        angle = torch.tensor(draw(-self.hue, self.hue, 0.0) * torch.pi / 180, dtype=torch.float64)
        rotate = torch.eye(3, dtype=torch.float64)
        rotate[1:, 1:] = sat * torch.stack(
            [torch.stack([angle.cos(), -angle.sin()]), torch.stack([angle.sin(), angle.cos()])]
        )
        color = torch.linalg.inv(RGB_TO_YIQ) @ rotate @ RGB_TO_YIQ
        return {"shift": shift, "factor": factor, "color": color.float()}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not isinstance(inpt, tv_tensors.Image):
            return inpt
        unit = 255.0 if inpt.dtype == torch.uint8 else 1.0
        x = inpt.as_subclass(torch.Tensor).float()  # (..., 3, H, W)
        x = (x + params["shift"] * unit / 255.0) * params["factor"]
        x = torch.einsum("ij,...jhw->...ihw", params["color"], x)
        x = x.clamp_(0, unit)
        out = x.round_().to(torch.uint8) if inpt.dtype == torch.uint8 else x.to(inpt.dtype)
        return tv_tensors.wrap(out, like=inpt)


class TrainAugmentation(v2.Compose):
    """The training augmentation of the segmentation benchmarks (PSPNet, DANet, CCNet, mmsegmentation).

    :class:`RandomScale` by a ratio in ``ratio_range``, :func:`random_crop` of ``crop_size``
    (padding the mask with ``ignore_index``), a horizontal flip, then ``photometric`` (e.g.
    :class:`PhotometricDistortion`, or ``None`` for none). Every real-data config uses it, so
    the pipeline is written once and a dataset config only states its crop.

    Args:
        crop_size: ``(h, w)`` of the training crop, or one int for a square.
        ignore_index: label of the padded mask pixels.
        ratio_range: smallest and largest rescale ratio.
        flip: random horizontal flip (p = 0.5).
        photometric: colour transform of the image, applied last; ``None`` for none.
    """

    def __init__(
        self,
        crop_size: int | Sequence[int],
        *,
        ignore_index: int = 255,
        ratio_range: Sequence[float] = (0.5, 2.0),
        flip: bool = True,
        photometric: v2.Transform | None = None,
    ) -> None:
        steps = [RandomScale(ratio_range), random_crop(crop_size, ignore_index)]
        steps += [v2.RandomHorizontalFlip()] if flip else []
        steps += [photometric] if photometric is not None else []
        super().__init__(steps)
