"""Training pipeline: ``train(cfg)`` reads top to bottom; ``attnseg-train`` (or ``python train.py``) runs it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from attnseg.config.printing import print_config_tree, print_metrics_table
from attnseg.config.ranks import is_rank_zero
from attnseg.config.resume import CHECKPOINT, FINISHED, LAST
from attnseg.inference.checkpoint import check_resumable, load_checkpoint
from attnseg.tasks.hydra_app import hydra_app
from attnseg.training.callbacks.attention_picture import AttentionPicture
from attnseg.training.callbacks.preemption import PREEMPTED_EXIT_CODE
from attnseg.training.loggers import build_loggers, close_loggers

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the configured model, then test the best checkpoint. Returns the final metrics."""
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    if cfg.get("ckpt_path") == LAST and (output_dir / FINISHED).is_file():
        log.info(f"ckpt_path=last: {output_dir} finished already; its metrics are in {FINISHED}")
        return json.loads((output_dir / FINISHED).read_text())
    ckpt_path = resume_checkpoint(cfg, output_dir)  # checked before anything is built
    if is_rank_zero():  # DDP ranks > 0 re-run this command in the same run directory
        print_config_tree(cfg, save_to=output_dir / "config.yaml")
    else:
        drop_file_logs()

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
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
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
    except SIGTERMException:
        # the preemption callback saved <run>/checkpoints/last.ckpt; no metrics.json: unfinished
        log.warning(
            f"Preempted (SIGTERM): exiting with status {PREEMPTED_EXIT_CODE}; resume with ckpt_path=last"
        )
        raise SystemExit(PREEMPTED_EXIT_CODE) from None
    finally:
        close_loggers(loggers, status)  # W&B runs are finished, so sweeps never merge runs
    metrics = {k: float(v.item() if isinstance(v, torch.Tensor) else v) for k, v in metrics.items()}
    if trainer.is_global_zero:
        # the final metrics whatever the logger: what `attnseg-report` reads
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
        print_metrics_table({k: v for k, v in metrics.items() if "/iou_" not in k or k.startswith("test/")})
        if trainer.checkpoint_callback and trainer.checkpoint_callback.best_model_path:
            log.info(f"Best checkpoint: {trainer.checkpoint_callback.best_model_path}")
        for picture in (c.written for c in callbacks if isinstance(c, AttentionPicture) and c.written):
            log.info(f"Attention picture (where the ringed pixels attend): {picture}")
        log.info(f"Outputs in {output_dir}")
    return metrics


def drop_file_logs() -> None:
    """Ranks > 0 log to their console only: the run directory's log is rank 0's."""
    for handler in list(logging.root.handlers):
        if isinstance(handler, logging.FileHandler):
            logging.root.removeHandler(handler)
            handler.close()


def _sweep_job_or_pinned_run_dir() -> bool:
    if not HydraConfig.initialized():
        return False
    hydra_cfg = HydraConfig.get()
    pinned = any(o.lstrip("+").startswith("hydra.run.dir=") for o in hydra_cfg.overrides.hydra)
    return hydra_cfg.mode == RunMode.MULTIRUN or pinned


def resume_checkpoint(cfg: DictConfig, output_dir: Path) -> str | None:
    """The checkpoint ``cfg.ckpt_path`` names, checked to fit this run's model; ``None``: start fresh.

    ``last`` is ``<run dir>/checkpoints/last.ckpt`` (Hydra already picked the newest unfinished
    run as the run directory, see :mod:`attnseg.config.resume`). Without one, a job of a multirun
    or a run whose directory was given (``hydra.run.dir=...``, e.g. a requeued SLURM job) starts
    fresh; any other run is an error (there was nothing to resume).
    """
    ckpt_path = cfg.get("ckpt_path")
    if not ckpt_path:
        return None
    if ckpt_path == LAST:
        if (output_dir / CHECKPOINT).is_file():
            ckpt_path = str(output_dir / CHECKPOINT)
        elif _sweep_job_or_pinned_run_dir():
            log.info(f"ckpt_path=last: {output_dir} has no {CHECKPOINT} yet: the run starts fresh")
            return None
        else:
            runs = Path(cfg.paths.log_dir) / cfg.task_name / "runs"
            raise FileNotFoundError(
                f"ckpt_path=last: no unfinished run to resume under {runs} (a run directory with "
                f"{CHECKPOINT} and no {FINISHED}); give the checkpoint's path instead"
            )
    check_resumable(cfg, load_checkpoint(ckpt_path), ckpt_path)
    return ckpt_path


def run(cfg: DictConfig) -> float | None:
    """Hydra task function: trains and returns the metric an optimising sweeper maximises.

    Only an optimising sweeper (Optuna) needs ``optimized_metric``: there a metric the run cannot
    log is an error, before training when the config already says so (no validation, no test);
    in a single run or a grid sweep a missing one is a warning.
    """
    name = cfg.get("optimized_metric")
    needed = bool(name) and _sweeper_optimises()
    if needed:
        _check_optimized_metric_is_computed(cfg, name)
    metrics = train(cfg)
    if name and name not in metrics:
        message = f"optimized_metric={name!r} was not logged; available: {sorted(metrics)}"
        if needed:
            raise KeyError(message)
        log.warning(f"{message} (nothing optimises it in this run)")
    return metrics.get(name)


def _sweeper_optimises() -> bool:
    """Whether this is a multirun job of a sweeper that reads the returned value (not the grid)."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return False
    return "BasicSweeper" not in str(HydraConfig.get().sweeper.get("_target_", ""))


def _check_optimized_metric_is_computed(cfg: DictConfig, name: str) -> None:
    # the keys that turn off the split a metric comes from ("val/miou": validation)
    switches = {
        "train": ["train"],
        "val": ["train", "trainer.limit_val_batches"],
        "test": ["test", "trainer.limit_test_batches"],
    }
    off = [
        k
        for k in switches.get(name.split("/", 1)[0], [])
        if OmegaConf.select(cfg, k, default=True) in (False, 0)
    ]
    if off:
        raise ValueError(
            f"optimized_metric={name!r}, which the sweeper maximises, is never computed with "
            f"{', '.join(f'{k}={OmegaConf.select(cfg, k)}' for k in off)}: optimise a metric this run "
            "computes, or turn that split back on"
        )


main = hydra_app("train", run)
