"""Reading a training checkpoint back: its run config, and the model it describes.

A checkpoint written by ``attnseg-train`` stores the run's resolved config under
:data:`~attnseg.training.module.RUN_CONFIG_KEY` (written by the LightningModule). Commands start
from that config and put their own on top, so a model is always rebuilt exactly as it was
trained, while the dataset, inference mode and logging can be changed from the command line.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from attnseg.training.module import RUN_CONFIG_KEY, SegmentationModule

EXPECTED = "a checkpoint written by train.py (e.g. logs/train/runs/<run>/checkpoints/last.ckpt)"


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint, failing with the file name and what was expected."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path: no such file {str(path)!r}; expected {EXPECTED}")
    try:
        # weights_only: no code runs on load; mmap: the weights are read when used, not to check the config
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # pickle, zip and torch errors all mean the same thing here
        raise ValueError(
            f"ckpt_path: {str(path)!r} is not a readable PyTorch checkpoint ({_reason(err)}); expected {EXPECTED}"
        ) from None
    if not isinstance(checkpoint, dict) or not {"state_dict", RUN_CONFIG_KEY} <= checkpoint.keys():
        raise ValueError(
            f"ckpt_path: {str(path)!r} has no 'state_dict' and {RUN_CONFIG_KEY!r} entries; expected {EXPECTED}"
        )
    return checkpoint


def _reason(err: Exception) -> str:
    """torch's first line, without its advice to retry with ``weights_only=False``: unsafe (it runs
    code from the file) and no help here, since train.py's checkpoints load with ``weights_only=True``."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if "weights_only" in first or "Weights only load failed" in first:
        return "its contents are not a checkpoint's: unpickling failed"
    return f"{type(err).__name__}: {first}"


# the parts of the run config that decide the shapes of the weights
MODEL_KEYS = ("model.net", "model.num_classes", "dataset.num_classes")


def _flat(node: Any, prefix: str) -> dict[str, Any]:
    if isinstance(node, dict):
        return {k: v for key, value in node.items() for k, v in _flat(value, f"{prefix}.{key}").items()}
    return {prefix: node}


def check_resumable(cfg: DictConfig, checkpoint: dict[str, Any], ckpt_path: str | Path) -> None:
    """A training run may resume only from a checkpoint of the same model: name what differs."""
    trained = run_config(checkpoint)
    ours, theirs = {}, {}
    for key in MODEL_KEYS:
        for config, flat in ((cfg, ours), (trained, theirs)):
            value = OmegaConf.select(config, key, default=None)
            value = OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
            flat.update(_flat(value, key))
    # the weights file of the backbone is not part of the model: the checkpoint holds the weights
    ignored = ("model.net.backbone.pretrained", "model.net.backbone.weights")
    differ = sorted(
        k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k) and k not in ignored
    )
    if differ:
        lines = "\n".join(
            f"  {k}: checkpoint {theirs.get(k)!r}, this run {ours.get(k)!r}" for k in differ[:12]
        )
        more = f"\n  ... and {len(differ) - 12} more" if len(differ) > 12 else ""
        raise ValueError(
            f"ckpt_path: {str(ckpt_path)!r} was written by a run with another model; these keys differ:\n"
            f"{lines}{more}\nResume it with the overrides of the run that wrote it "
            f"(its config.yaml sits next to its checkpoints/ folder)"
        )


def run_config(checkpoint: dict[str, Any]) -> DictConfig:
    """The resolved config of the run that wrote ``checkpoint``."""
    return OmegaConf.create(checkpoint[RUN_CONFIG_KEY])


def merge_run_config(
    cfg: DictConfig, checkpoint: dict[str, Any], replace: Collection[str] = ()
) -> DictConfig:
    """The checkpoint's training config with this command's config on top.

    A top-level key in ``replace`` (the config groups picked on the command line, such as
    ``dataset=other``) or one the trained config lacks replaces the trained value wholesale, as
    does every non-mapping value; a mapping not in ``replace`` (e.g. ``+dataset.val.num_samples=16``)
    changes only its own keys of the trained one.
    """
    merged = run_config(checkpoint)
    own = OmegaConf.to_container(cfg, resolve=False)  # keep interpolations: they resolve in `merged`
    with open_dict(merged):
        for key, value in own.items():
            partial = isinstance(value, dict) and key not in replace and key in merged
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
