"""Where the attention modules of a trained model look, for chosen query pixels.

    attnseg-attention-maps ckpt_path=<ckpt> image=<file or folder> points=[[y,x],...]

For every image it writes ``<name>_attention.png``: one row per query pixel (marked with a ring)
holding, per spatial attention module (self-attention, PAM, Non-local, criss-cross), the image
overlaid with that pixel's attention row; for a module applied several times with shared weights
(CCNet's recurrence) the first pass and the effective map after all R passes, the product of the
per-pass maps ``A_R ... A_1``; and a last row with each channel attention module's (CAM) C x C
weights. The images are also logged (W&B, TensorBoard, MLflow). How the maps are recorded:
:mod:`attnseg.models.attention.capture`; how they are drawn: :mod:`attnseg.viz.attention`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from omegaconf import DictConfig

from attnseg.inference.checkpoint import build_model, load_checkpoint
from attnseg.inference.device import pick_device
from attnseg.inference.images import list_images, read_image, shrink
from attnseg.models.attention.capture import capture_attention, require_attention_modules
from attnseg.tasks.hydra_app import hydra_app, merge_with_checkpoint
from attnseg.training.loggers import build_loggers, close_loggers, log_image
from attnseg.viz.attention import render

log = logging.getLogger(__name__)


def check_points(
    points: Sequence[Sequence[int]], shape: tuple[int, int], path: Path
) -> list[tuple[int, int]]:
    checked = []
    for point in points:
        if len(point) != 2 or not all(0 <= int(v) < s for v, s in zip(point, shape, strict=True)):
            raise ValueError(
                f"points: {list(point)} is not a [y, x] pixel of {str(path)!r} (size {shape[0]}x{shape[1]})"
            )
        checked.append((int(point[0]), int(point[1])))
    return checked


def attention_maps(cfg: DictConfig) -> list[Path]:
    """Render the attention maps of ``cfg.ckpt_path`` for ``cfg.image``; returns the PNGs written."""
    checkpoint = load_checkpoint(cfg.ckpt_path)
    cfg = merge_with_checkpoint(cfg, checkpoint)
    device = pick_device(cfg.device)
    net = build_model(cfg, checkpoint, cfg.ckpt_path).net.to(device)
    owner = f"ckpt_path: the model in {str(cfg.ckpt_path)!r} ({cfg.model.net.head._target_})"
    modules = require_attention_modules(net, owner)
    output = Path(cfg.output)
    output.mkdir(parents=True, exist_ok=True)
    loggers = build_loggers(cfg)
    written = []
    try:
        for path in list_images(cfg.image):
            image = read_image(path)
            points = check_points(
                cfg.points or [[image.shape[0] // 2, image.shape[1] // 2]], image.shape[:2], path
            )
            image, scale = shrink(image, cfg.max_size)
            x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).to(device)  # (1, 3, H, W)
            maps = {n: [(a.cpu(), s) for a, s in calls] for n, calls in capture_attention(net, x).items()}
            picture = render(image, maps, modules, points, scale)
            written.append(output / f"{path.stem}_attention.png")
            picture.save(written[-1])
            log_image(loggers, f"attention/{path.stem}", picture, caption=f"query pixels {points}")
    finally:
        close_loggers(loggers)
    log.info(f"Wrote {len(written)} attention map picture(s) to {output}")
    return written


main = hydra_app("attention_maps", attention_maps)
