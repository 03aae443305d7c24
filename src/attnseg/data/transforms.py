"""Glue between datasets and torchvision ``transforms.v2`` (image and mask transformed together)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

Transform = Callable[[tv_tensors.Image, tv_tensors.Mask], tuple[tv_tensors.Image, tv_tensors.Mask]]


def make_sample(
    image: torch.Tensor, mask: torch.Tensor, transforms: Transform | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply joint transforms to a uint8 (3, H, W) image and (H, W) mask.

    Returns the image as float32 in [0, 1] and the mask as int64; normalisation with the
    backbone's mean/std is done by the model.
    """
    image, mask = tv_tensors.Image(image), tv_tensors.Mask(mask)
    if transforms is not None:
        image, mask = transforms(image, mask)
    image = TF.to_dtype(image, torch.float32, scale=True)
    return image.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor).long()


def iter_transforms(transforms: Transform | None):
    """Yield every transform inside (possibly nested) ``Compose`` / ``RandomApply`` containers."""
    if transforms is None:
        return
    yield transforms
    for child in getattr(transforms, "transforms", []) or []:
        yield from iter_transforms(child)


def check_crop_fits(transforms: Transform | None, image_hw: tuple[int, int], key: str) -> None:
    """Fail early when a ``RandomCrop`` asks for more pixels than the images have and cannot pad."""
    for t in iter_transforms(transforms):
        if not isinstance(t, v2.RandomCrop) or t.pad_if_needed:
            continue
        pad = t.padding or [0]
        pad_h = pad[1] + pad[3] if len(pad) == 4 else 2 * pad[-1]
        pad_w = pad[0] + pad[2] if len(pad) == 4 else 2 * pad[0]
        crop_h, crop_w = t.size
        if crop_h > image_hw[0] + pad_h or crop_w > image_hw[1] + pad_w:
            raise ValueError(
                f"{key}: RandomCrop size {tuple(t.size)} is larger than the images {tuple(image_hw)} "
                "and pad_if_needed is false; lower the crop size or set pad_if_needed: true"
            )
