"""A Cityscapes-shaped tree of real PNG files, written for the data benchmark (no download).

``labelIds`` masks laid out like a street scene (sky, buildings on the horizon, road, ~130
object polygons of valid label ids, poles, the ego vehicle: ~30 KiB as PNG, like the real
masks), photo-like 2048x1024 images (~2 MiB, what decoding a ``leftImg8bit`` file costs) and a
noise-like worst-case mask. Layout and suffixes: :mod:`attnseg.data.cityscapes`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from attnseg.data.cityscapes import IMAGE_SUFFIX, LABEL_IDS_SUFFIX

# label ids drawn as objects over the sky (23) / road (7) / building background
OBJECT_IDS = (4, 5, 6, 8, 12, 13, 17, 19, 20, 21, 22, 24, 25, 26, 27, 28, 32, 33)


def street_labels(height: int, rng: np.random.Generator) -> np.ndarray:
    """(H, 2H) uint8 label ids laid out like a Cityscapes frame: sky, a row of buildings and
    vegetation on the horizon, road and sidewalk below, ~130 object polygons, poles, ego car."""
    w, h, s = 2 * height, height, height / 1024
    img = Image.new("L", (w, h), 23)  # sky
    draw = ImageDraw.Draw(img)
    horizon = int(h * rng.uniform(0.35, 0.5))
    draw.rectangle([0, horizon, w, h], fill=7)  # road
    x = 0
    while x < w:  # buildings, walls, vegetation, terrain along the horizon
        width, top = rng.uniform(80, 400) * s, horizon - rng.uniform(100 * s, horizon)
        corners = [(x, horizon), (x, top), (x + width, top + rng.uniform(-40, 40) * s), (x + width, horizon)]
        draw.polygon(corners, fill=int(rng.choice([11, 12, 21, 22])))
        x += width
    draw.polygon([(0, h), (0, horizon + 40 * s), (0.3 * w, horizon + 10 * s), (0.35 * w, h)], fill=8)
    for _ in range(130):
        cx, cy, r = rng.uniform(0, w), rng.uniform(horizon - 200 * s, h), rng.uniform(10, 120) * s
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 9))))
        radii = r * rng.uniform(0.5, 1, len(angles))
        draw.polygon(list(zip(cx + radii * np.cos(angles), cy + radii * np.sin(angles), strict=True)),
                     fill=int(rng.choice(OBJECT_IDS)))  # fmt: skip
    for _ in range(15):  # poles
        x0 = rng.uniform(0, w)
        draw.rectangle(
            [x0, horizon - rng.uniform(50, 300) * s, x0 + rng.uniform(3, 10) * s, horizon], fill=17
        )
    draw.polygon([(0, h), (0.1 * w, 0.9 * h), (0.9 * w, 0.9 * h), (w, h)], fill=1)  # ego vehicle
    return np.array(img)


def photo(labels: np.ndarray, rng: np.random.Generator, noise: float = 0.8) -> np.ndarray:
    """(H, W, 3) uint8 image of ``labels``: a colour per label, smooth shading and mild noise, which
    makes a 2048x1024 PNG of about 2 MiB, the size of a ``leftImg8bit`` file (what decoding costs)."""
    colours = rng.uniform(30, 230, (256, 3)).astype(np.float32)
    yy, xx = np.mgrid[0 : labels.shape[0], 0 : labels.shape[1]].astype(np.float32)
    shade = 20 * np.sin(xx / 150) * np.cos(yy / 90)  # (H, W)
    image = colours[labels] + shade[..., None] + rng.normal(0, noise, (*labels.shape, 3)).astype(np.float32)
    return image.clip(0, 255).astype(np.uint8)


def frame_paths(root: Path, split: str, city: str, index: int) -> tuple[Path, Path]:
    """The image and labelIds paths of frame ``index`` of ``city`` (folders created)."""
    frame = f"{city}_{index:06d}_000019"
    image = root / "leftImg8bit" / split / city / f"{frame}{IMAGE_SUFFIX}"
    mask = root / "gtFine" / split / city / f"{frame}{LABEL_IDS_SUFFIX}"
    for path in (image, mask):
        path.parent.mkdir(parents=True, exist_ok=True)
    return image, mask


def write_tree(root: Path, height: int, files: int) -> dict[str, Path]:
    """train: one photo-like frame; val: ``files // 2`` frames (copies of a flat-colour frame: a
    header read touches only a file's first bytes); plus a noise-like labelIds mask. Its paths."""
    rng = np.random.default_rng(0)
    labels = street_labels(height, rng)
    image, mask = frame_paths(root, "train", "aachen", 0)
    Image.fromarray(photo(labels, rng)).save(image)
    Image.fromarray(labels).save(mask)
    flat_image = root / "flat.png"
    Image.fromarray(photo(labels, rng, noise=0)).save(flat_image)
    for i in range(max(files // 2, 1)):
        val_image, val_mask = frame_paths(root, "val", ("bochum", "bremen")[i % 2], i)
        shutil.copyfile(flat_image, val_image)
        shutil.copyfile(mask, val_mask)
    noise = root / "worst" / f"worst_000000_000019{LABEL_IDS_SUFFIX}"
    noise.parent.mkdir()
    Image.fromarray(rng.integers(0, 34, labels.shape, dtype=np.uint8)).save(noise)
    return {"image": image, "mask": mask, "noise_mask": noise}
