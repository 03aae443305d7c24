"""Where the attention modules of a trained model look, for chosen query pixels.

    python -m attnseg.attention_maps ckpt_path=<ckpt> image=<file or folder> points=[[y,x],...]

For every image it writes ``<name>_attention.png``: one row per query pixel (marked with a ring)
holding, per spatial attention module (self-attention, PAM, Non-local, criss-cross), the image
overlaid with that pixel's attention row; for a module applied several times with shared weights
(CCNet's recurrence) the first pass and the effective map after all R passes, the product of the
per-pass maps ``A_R ... A_1``; and a last row with each channel attention module's (CAM) C x C
weights. The images are also logged to W&B.

Every attention module has ``forward(x, return_attention=True) -> (out, attn)``: forward
pre-hooks record each module's inputs during one normal forward pass, then the module is called
again on them to get its maps.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from pathlib import Path

import hydra
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import WandbLogger
from omegaconf import DictConfig
from PIL import Image
from torch import nn

from attnseg.checkpoint import (
    build_loggers,
    build_model,
    close_loggers,
    load_checkpoint,
    merge_run_config,
    pick_device,
)
from attnseg.models.attention import ChannelAttention
from attnseg.predict import list_images, read_image
from attnseg.visualize import colormap, grid, heatmap_overlay, mark_point

log = logging.getLogger(__name__)
MIN_PANEL = 256  # pixels on the longer side of each picture panel
Maps = dict[str, list[tuple[torch.Tensor, tuple[int, int]]]]  # module path -> per call: (attn, (h, w))


def attention_modules(net: nn.Module) -> dict[str, nn.Module]:
    """The modules whose ``forward`` takes ``return_attention``, by their path in ``net``."""
    return {
        name: module
        for name, module in net.named_modules()
        if "return_attention" in inspect.signature(module.forward).parameters
    }


@torch.inference_mode()
def capture_attention(net: nn.Module, images: torch.Tensor) -> Maps:
    """Every attention module's maps on ``images``, one entry per call (in call order)."""
    modules = attention_modules(net)
    calls: dict[str, list[tuple[tuple, dict]]] = {name: [] for name in modules}

    def recorder(name: str):
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            calls[name].append((tuple(a.clone() if torch.is_tensor(a) else a for a in args), dict(kwargs)))

        return hook

    handles = [m.register_forward_pre_hook(recorder(name), with_kwargs=True) for name, m in modules.items()]
    try:
        net(images)
    finally:
        for handle in handles:
            handle.remove()
    maps: Maps = {}
    for name, module_calls in calls.items():
        for args, kwargs in module_calls:
            _, attn = modules[name](*args, **{**kwargs, "return_attention": True})
            maps.setdefault(name, []).append((attn.float(), tuple(args[0].shape[-2:])))
    return maps


def is_spatial(attn: torch.Tensor, size: tuple[int, int], module: nn.Module) -> bool:
    """(B, H*W, H*W) pixel maps vs (B, C, C) channel maps (told apart by class when H*W == C)."""
    return attn.shape[-1] == size[0] * size[1] and not isinstance(module, ChannelAttention)


def query_row(maps: Sequence[torch.Tensor], index: int) -> torch.Tensor:
    """Row ``index`` of ``A_R ... A_2 A_1`` for per-pass maps ``[A_1, ..., A_R]`` (each (N, N))."""
    row = maps[-1][index]
    for attn in reversed(maps[:-1]):
        row = row @ attn  # (N,)
    return row


def render(
    image: np.ndarray,
    maps: Maps,
    modules: dict[str, nn.Module],
    points: Sequence[tuple[int, int]],
    scale: float = 1.0,
) -> Image.Image:
    """One grid picture: a row per query pixel, then a row of channel-attention matrices.

    ``image`` is the picture the maps were computed on: the user's image resized by ``scale``;
    ``points`` are pixels of the user's image.
    """
    height, width = image.shape[:2]
    zoom = max(1.0, MIN_PANEL / max(height, width))  # small images are enlarged so titles fit
    shown = (round(height * zoom), round(width * zoom))
    picture = np.asarray(Image.fromarray(image).resize(shown[::-1], Image.BILINEAR))
    spatial = {n: c for n, c in maps.items() if is_spatial(c[0][0], c[0][1], modules[n])}
    rows = []
    for point in points:
        y, x = (min(int(v * scale), size - 1) for v, size in zip(point, (height, width), strict=True))
        mark = (int(y * zoom), int(x * zoom))
        row = [(f"query {tuple(point)}", mark_point(Image.fromarray(picture), mark))]
        for name, calls in spatial.items():
            h, w = calls[0][1]
            index = min(y * h // height, h - 1) * w + min(x * w // width, w - 1)  # row-major query pixel
            views = [("", [calls[0][0][0]])]
            if len(calls) > 1:
                views = [(" pass 1", views[0][1]), (f" after {len(calls)} passes", [a[0] for a, _ in calls])]
            for label, per_pass in views:
                heat = query_row(per_pass, index).view(1, 1, h, w)
                heat = F.interpolate(heat, size=shown, mode="bilinear", align_corners=False)[0, 0]
                overlay = Image.fromarray(heatmap_overlay(picture, heat.clamp(min=0).numpy()))
                row.append((f"{name}{label}", mark_point(overlay, mark)))
        rows.append(row)
    channel = [
        (f"{n} (C x C)", _matrix_image(c[0][0][0], max(shown))) for n, c in maps.items() if n not in spatial
    ]
    return grid(rows + ([channel] if channel else []))


def _matrix_image(matrix: torch.Tensor, size: int) -> Image.Image:
    """A (C, C) map scaled to its own range, as a square heat-map of ``size`` pixels."""
    values = matrix.numpy()
    span = values.max() - values.min()
    scaled = (values - values.min()) / span if span > 0 else np.zeros_like(values)
    return Image.fromarray(colormap(scaled)).resize((size, size), Image.NEAREST)


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
    cfg = merge_run_config(cfg, checkpoint)
    device = pick_device(cfg.device)
    net = build_model(cfg, checkpoint, cfg.ckpt_path).net.to(device)
    modules = attention_modules(net)
    if not modules:
        head = cfg.model.net.head._target_
        raise ValueError(f"ckpt_path: the model in {str(cfg.ckpt_path)!r} ({head}) has no attention module")
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
            image, scale = _fit(image, cfg.max_size)
            x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).to(device)  # (1, 3, H, W)
            maps = {n: [(a.cpu(), s) for a, s in calls] for n, calls in capture_attention(net, x).items()}
            picture = render(image, maps, modules, points, scale)
            written.append(output / f"{path.stem}_attention.png")
            picture.save(written[-1])
            for logger in loggers:
                if isinstance(logger, WandbLogger):
                    logger.log_image(f"attention/{path.stem}", [picture], caption=[f"query pixels {points}"])
    finally:
        close_loggers(loggers)
    log.info(f"Wrote {len(written)} attention map picture(s) to {output}")
    return written


def _fit(image: np.ndarray, max_size: int | None) -> tuple[np.ndarray, float]:
    """Shrink so the longer side is at most ``max_size`` (dense maps grow as (H * W)^2); returns the scale."""
    longer = max(image.shape[:2])
    if not max_size or longer <= max_size:
        return image, 1.0
    scale = max_size / longer
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR)), scale


@hydra.main(version_base="1.3", config_path="../../conf", config_name="attention_maps")
def main(cfg: DictConfig) -> None:
    attention_maps(cfg)


if __name__ == "__main__":
    main()
