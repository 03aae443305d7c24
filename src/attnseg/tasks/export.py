"""ONNX export of a trained checkpoint: ``export(cfg)``; ``attnseg-export`` runs it.

The graph's inputs and outputs: :mod:`attnseg.inference.onnx`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig

from attnseg.inference.checkpoint import build_model, load_checkpoint
from attnseg.inference.onnx import LogitsOnly, compare_with_onnxruntime, export_onnx
from attnseg.tasks.hydra_app import hydra_app, merge_with_checkpoint

log = logging.getLogger(__name__)


def export(cfg: DictConfig) -> Path:
    """Export ``cfg.ckpt_path`` to ``cfg.output`` and, if ``cfg.verify``, check it with onnxruntime."""
    checkpoint = load_checkpoint(cfg.ckpt_path)
    cfg = merge_with_checkpoint(cfg, checkpoint)
    net = LogitsOnly(build_model(cfg, checkpoint, cfg.ckpt_path).net).eval()
    size = tuple(cfg.image_size)
    path = export_onnx(
        net, cfg.output, image_size=size, opset=cfg.opset, dynamic_size=cfg.dynamic_size, dynamo=cfg.dynamo
    )
    log.info(f"Wrote {path}")
    if cfg.verify:
        images = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(0))
        error = compare_with_onnxruntime(net, path, images, atol=cfg.atol)
        log.info(f"onnxruntime matches PyTorch: max |difference| {error:.2e} <= atol {cfg.atol:g}")
    return path


main = hydra_app("export", export)
