"""Shared by eval / predict / export / attention maps: a checkpoint, its run config, its model.

A checkpoint written by ``train.py`` stores the resolved training config under
``attnseg_config``. Commands start from that config and put their own on top, so a model is
always rebuilt exactly as it was trained, while the dataset, inference mode and logging can be
changed from the command line.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger, WandbLogger
from omegaconf import DictConfig, OmegaConf, open_dict

from attnseg.module import SegmentationModule

log = logging.getLogger(__name__)
EXPECTED = "a checkpoint written by train.py (e.g. logs/train/runs/<run>/checkpoints/last.ckpt)"


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint, failing with the file name and what was expected."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path: no such file {str(path)!r}; expected {EXPECTED}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)  # no code runs on load
    except Exception as err:  # pickle, zip and torch errors all mean the same thing here
        raise ValueError(f"ckpt_path: {str(path)!r} is not a readable PyTorch checkpoint ({err})") from err
    if not isinstance(checkpoint, dict) or not {"state_dict", "attnseg_config"} <= checkpoint.keys():
        raise ValueError(
            f"ckpt_path: {str(path)!r} has no 'state_dict' and 'attnseg_config' entries; expected {EXPECTED}"
        )
    return checkpoint


def merge_run_config(cfg: DictConfig, checkpoint: dict[str, Any]) -> DictConfig:
    """The checkpoint's training config with this command's config on top.

    A config group picked on the command line (``dataset=other``) or composed by the command
    itself (``logger``, ``paths``) replaces the trained one wholesale; a key added with ``+``
    (``+dataset.val.num_samples=16``) changes only that key of the trained config.
    """
    merged = OmegaConf.create(checkpoint["attnseg_config"])
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    own = OmegaConf.to_container(cfg, resolve=False)  # keep interpolations: they resolve in `merged`
    with open_dict(merged):
        for key, value in own.items():
            partial = isinstance(value, dict) and choices.get(key) is None and key in merged
            merged[key] = OmegaConf.merge(merged[key], value) if partial else value
    return merged


def check_num_classes(cfg: DictConfig, ckpt_path: str | Path) -> None:
    """The dataset must have the classes the checkpoint was trained for."""
    trained, wanted = cfg.model.num_classes, cfg.dataset.num_classes
    if trained != wanted:
        raise ValueError(
            f"ckpt_path: {str(ckpt_path)!r} was trained for {trained} classes "
            f"({list(cfg.model.class_names)}) but the dataset has {wanted}; "
            "evaluate it on a dataset with the classes it was trained on"
        )


def build_model(cfg: DictConfig, checkpoint: dict[str, Any], ckpt_path: str | Path) -> SegmentationModule:
    """Rebuild the trained module from ``cfg.model`` and load the checkpoint's weights (eval mode)."""
    model_cfg = cfg.model.copy()
    with open_dict(model_cfg):
        # the weights come from the checkpoint: never download or read backbone weights again
        model_cfg.net.backbone.pretrained = False
        model_cfg.net.backbone.weights = None
    model: SegmentationModule = instantiate(model_cfg)
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        raise ValueError(
            f"ckpt_path: the weights in {str(ckpt_path)!r} do not fit the model its config describes: {err}"
        ) from err
    return model.eval()


def pick_device(name: str) -> torch.device:
    """``auto`` picks the GPU when there is one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_loggers(cfg: DictConfig) -> list[Logger]:
    """The command's loggers; W&B runs are named ``<task>-<head>-<backbone>-seed<seed>``."""
    overridden = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
    if (cfg.get("logger") or {}).get("wandb") and not any(
        o.lstrip("+").startswith("logger.wandb.name=") for o in overridden
    ):
        # the logger's default name reads the `head` group choice, which these commands do not compose
        head = str(cfg.model.net.head._target_).rsplit(".", 1)[-1]
        cfg.logger.wandb.name = f"{cfg.task_name}-{head}-{cfg.model.net.backbone.name}-seed{cfg.get('seed')}"
    return [instantiate(c) for c in (cfg.get("logger") or {}).values() if c]


def close_loggers(loggers: list[Logger]) -> None:
    for logger in loggers:
        logger.finalize("success")
        if isinstance(logger, WandbLogger):
            logger.experiment.finish()
