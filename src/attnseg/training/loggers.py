"""The experiment loggers of a command, built from its ``logger`` config group, and closed."""

from __future__ import annotations

from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger, WandbLogger
from omegaconf import DictConfig


def build_loggers(cfg: DictConfig) -> list[Logger]:
    """One logger per entry of ``cfg.logger`` (none when it is ``null``)."""
    return [instantiate(c) for c in (cfg.get("logger") or {}).values() if c]


def close_loggers(loggers: list[Logger], status: str = "success") -> None:
    """Flush every logger; W&B runs are finished, so a sweep never merges two runs into one."""
    for logger in loggers:
        logger.finalize(status)
        if isinstance(logger, WandbLogger):
            logger.experiment.finish()
