"""Training pipeline: ``train(cfg)`` reads top to bottom; ``attnseg-train`` (or ``python train.py``) runs it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from attnseg.config.printing import print_config_tree, print_metrics_table
from attnseg.tasks.hydra_app import hydra_app
from attnseg.training.loggers import build_loggers, close_loggers

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the configured model, then test the best checkpoint. Returns the final metrics."""
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    if rank_zero_only.rank == 0:  # DDP ranks > 0 re-run this script in the same directory
        print_config_tree(cfg, save_to=output_dir / "config.yaml")

    # Everything that can reject bad input is built before the first training step.
    log.info(f"Building datamodule <{cfg.dataset._target_}>")
    datamodule: L.LightningDataModule = instantiate(cfg.dataset)
    log.info(f"Building model <{cfg.model._target_}> ({cfg.backbone.name} + {cfg.head._target_})")
    run_config = OmegaConf.to_container(cfg, resolve=True)  # stored in every checkpoint
    # _partial_: the config's own nodes are instantiated, run_config is passed as it is
    model: L.LightningModule = instantiate(cfg.model, _partial_=True)(run_config=run_config)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    loggers = build_loggers(cfg)
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    status = "failed"
    try:
        for logger in loggers:
            logger.log_hyperparams(run_config)
        metrics: dict[str, Any] = {}
        if cfg.get("train", True):
            trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
            metrics.update(trainer.callback_metrics)
        if cfg.get("test", True):
            best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
            if not best:
                log.warning("No best checkpoint found: testing the current weights")
            trainer.test(model, datamodule=datamodule, ckpt_path=best or None)
            metrics.update(trainer.callback_metrics)
            if best:
                metrics["best_ckpt_score"] = trainer.checkpoint_callback.best_model_score
        status = "success"
    finally:
        close_loggers(loggers, status)  # W&B runs are finished, so sweeps never merge runs
    metrics = {k: float(v.item() if isinstance(v, torch.Tensor) else v) for k, v in metrics.items()}
    if trainer.is_global_zero:
        # the final metrics whatever the logger: what `attnseg-report` reads
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
        print_metrics_table({k: v for k, v in metrics.items() if "/iou_" not in k or k.startswith("test/")})
        if trainer.checkpoint_callback and trainer.checkpoint_callback.best_model_path:
            log.info(f"Best checkpoint: {trainer.checkpoint_callback.best_model_path}")
        log.info(f"Outputs in {output_dir}")
    return metrics


def run(cfg: DictConfig) -> float | None:
    """Hydra task function: trains and returns the metric an optimising sweeper maximises."""
    metrics = train(cfg)
    name = cfg.get("optimized_metric")
    if name and name not in metrics:
        raise KeyError(f"optimized_metric={name!r} was not logged; available: {sorted(metrics)}")
    return metrics.get(name) if name else None


main = hydra_app("train", run)
