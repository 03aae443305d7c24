"""An attention explorer you can click: ``explore(cfg)``; ``attnseg-explore`` runs it.

    attnseg-explore ckpt_path=<ckpt> image=<file or folder>

For every image it writes ``<name>_explorer.html``: one self-contained page (open it in a browser,
no server, no network) where hovering or clicking a pixel shows, over the image, where every
spatial attention module of the checkpoint looks from there: self-attention / PAM / Non-local
rows, criss-cross attention after its first pass and after all R passes (``A_R ... A_1``), with
the predicted mask as a toggle and each channel attention module's (CAM) C x C weights as a
static panel. The maps of every query cell are computed once here and embedded in the page
(:mod:`attnseg.viz.explorer`); a W&B logger also gets the page as ``explorer/<name>``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger
from omegaconf import DictConfig, OmegaConf
from torch import nn

from attnseg.inference.checkpoint import build_model, load_checkpoint
from attnseg.inference.device import pick_device
from attnseg.inference.images import list_images, predict_image, read_image, shrink
from attnseg.inference.modes import SegmentationInference
from attnseg.models.attention.capture import (
    Maps,
    attention_modules,
    capture_attention,
    is_spatial,
    require_attention_modules,
)
from attnseg.tasks.hydra_app import hydra_app, merge_with_checkpoint
from attnseg.training.loggers import build_loggers, close_loggers
from attnseg.training.module import SegmentationModule
from attnseg.viz.explorer import MAX_CELLS, ChannelView, SpatialView, explorer_page
from attnseg.viz.masks import blend, colorize

log = logging.getLogger(__name__)


def explore(cfg: DictConfig) -> list[Path]:
    """Write an attention explorer page per image of ``cfg.image``; returns the pages written."""
    checkpoint = load_checkpoint(cfg.ckpt_path)
    cfg = merge_with_checkpoint(cfg, checkpoint)
    device = pick_device(cfg.device)
    model = build_model(cfg, checkpoint, cfg.ckpt_path).to(device)
    owner = f"ckpt_path: the model in {str(cfg.ckpt_path)!r} ({cfg.model.net.head._target_})"
    require_attention_modules(model.net, owner)
    images = list_images(cfg.image)
    output = Path(cfg.output)
    output.mkdir(parents=True, exist_ok=True)
    loggers = build_loggers(cfg)
    written = []
    try:
        for path in images:
            written.append(output / f"{path.stem}_explorer.html")
            written[-1].write_text(explore_image(model, path, cfg, device), encoding="utf-8")
            size = written[-1].stat().st_size
            size = f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.0f} KiB"
            log.info(f"Wrote {written[-1]} ({size}); open it in a browser")
            for logger in loggers:
                if isinstance(logger, WandbLogger):
                    import wandb  # needed only with a W&B logger

                    logger.experiment.log(
                        {f"explorer/{path.stem}": wandb.Html(str(written[-1]), inject=False)}
                    )
    finally:
        close_loggers(loggers)
    return written


def explore_image(model: SegmentationModule, path: Path, cfg: DictConfig, device: torch.device) -> str:
    """The explorer page of one image file, computed on the image shrunk to ``cfg.max_size``."""
    image, _ = shrink(read_image(path), cfg.max_size)
    stride = OmegaConf.select(cfg, "model.net.backbone.output_stride", default=None) or 8
    _check_grid(
        (math.ceil(image.shape[0] / stride), math.ceil(image.shape[1] / stride)), image, path, cfg, stride
    )
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).to(device)  # (1, 3, H, W)
    maps = capture_attention(model.net, x)
    for calls in maps.values():  # the real grid, in case the stride guess was off
        _check_grid(calls[0][1], image, path, cfg, stride)
    spatial, channel = views(maps, attention_modules(model.net))
    mask = predict_image(model, SegmentationInference(), image, device)
    palette = [tuple(c) for c in cfg.dataset.palette]
    head, backbone = cfg.model.net.head._target_.rsplit(".", 1)[-1], cfg.model.net.backbone.name
    return explorer_page(
        image,
        spatial,
        channel,
        mask_overlay=blend(image, colorize(mask, palette), 0.5),
        classes=list(zip(cfg.dataset.class_names, palette, strict=True)),
        title=f"{path.name}: {head} on {backbone} ({Path(cfg.ckpt_path).name})",
    )


def views(maps: Maps, modules: dict[str, nn.Module]) -> tuple[list[SpatialView], list[ChannelView]]:
    """The panels of the page: a map per spatial module (for a module applied R > 1 times, pass 1
    and the product ``A_R ... A_1`` of all passes), and the channel modules' C x C weights."""
    spatial, channel = [], []
    for name, calls in maps.items():
        attn, grid = calls[0]
        if not is_spatial(attn, grid, modules[name]):
            channel.append(ChannelView(name, attn[0].cpu().numpy()))
            continue
        per_pass = [a[0] for a, _ in calls]  # R x (N, N)
        if len(per_pass) == 1:
            spatial.append(SpatialView(name, per_pass[0].cpu().numpy(), grid))
            continue
        product = per_pass[0]
        for later in per_pass[1:]:
            product = later @ product  # (N, N): every query row at once, as query_row does one
        spatial.append(SpatialView(f"{name} pass 1", per_pass[0].cpu().numpy(), grid))
        spatial.append(SpatialView(f"{name} after {len(per_pass)} passes", product.cpu().numpy(), grid))
    return spatial, channel


def _check_grid(grid: tuple[int, int], image: np.ndarray, path: Path, cfg: DictConfig, stride: int) -> None:
    """Refuse a feature grid whose N x N maps would not fit in a page, naming a max_size that fits."""
    cells = grid[0] * grid[1]
    if cells > MAX_CELLS:
        longer = max(image.shape[:2])
        fits = next(
            size
            for size in range(longer // stride * stride, 0, -stride)
            if math.prod(math.ceil(round(s * size / longer) / stride) for s in image.shape[:2]) <= MAX_CELLS
        )
        raise ValueError(
            f"max_size: {str(path)!r} at max_size={cfg.max_size} is {image.shape[0]}x{image.shape[1]} and "
            f"gives a {grid[0]} x {grid[1]} attention grid ({cells} query cells); the explorer embeds an "
            f"N x N map per module and takes at most N = {MAX_CELLS}: lower it, e.g. max_size={fits}"
        )


main = hydra_app("explore", explore)
