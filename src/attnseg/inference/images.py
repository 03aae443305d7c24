"""Image files in, label maps out: listing, reading and predicting single images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from attnseg.data.listing import list_files
from attnseg.inference.modes import Model, SegmentationInference

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def list_images(path: str | Path, *, recursive: bool = False) -> list[Path]:
    """The image itself, or the images of a folder, sorted by path; ``recursive``: of its
    sub-folders too, symlinked ones included (Cityscapes' ``leftImg8bit/test`` holds a folder per city)."""
    path = Path(path).expanduser()
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"input: no such file or folder {str(path)!r}; expected an image or a folder")
    found = list_files(path) if recursive else path.iterdir()
    images = sorted(p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        folders = not recursive and any(p.is_dir() for p in path.iterdir())
        hint = "; it has sub-folders: recursive=true searches them too" if folders else ""
        raise FileNotFoundError(
            f"input: folder {str(path)!r} has no images ({', '.join(IMAGE_SUFFIXES)}){hint}"
        )
    return images


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); a clear error when it cannot be decoded."""
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"))  # a writable copy
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise ValueError(
            f"input: cannot read {str(path)!r} as an image ({err}); expected an image file "
            f"({', '.join(IMAGE_SUFFIXES)})"
        ) from err


def predict_image(
    model: Model, inference: SegmentationInference, image: np.ndarray, device: torch.device
) -> np.ndarray:
    """Label map (H, W) uint8 of an RGB uint8 image (H, W, 3)."""
    x = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float().div(255).to(device)  # (1, 3, H, W)
    return inference.predict(model, x)[0].to(torch.uint8).cpu().numpy()


def shrink(image: np.ndarray, max_size: int | None) -> tuple[np.ndarray, float]:
    """The image with its longer side at most ``max_size`` (bilinear), and the scale applied.

    Dense attention maps grow as (H * W)^2, so the attention commands shrink large images first.
    """
    longer = max(image.shape[:2])
    if not max_size or longer <= max_size:
        return image, 1.0
    scale = max_size / longer
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return np.array(Image.fromarray(image).resize(size, Image.BILINEAR)), scale
