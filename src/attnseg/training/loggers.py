"""The experiment loggers of a command: built from its ``logger`` config group, sent pictures, closed.

Lightning's loggers take scalars and hyper-parameters alike; they differ in how a picture is sent
(:func:`log_image` sends it to each in its own way) and MLflow limits its params (:class:`MLFlowLogger`).
"""

from __future__ import annotations

import os
import re
from argparse import Namespace
from collections.abc import Iterable, Mapping, Sequence
from functools import singledispatch
from typing import Any, Literal

import numpy as np
from hydra.utils import instantiate
from lightning.pytorch import loggers as pl_loggers
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn
from omegaconf import DictConfig, OmegaConf
from PIL import Image

# a PIL image, or a uint8 array (H, W, 3) or (H, W)
Picture = Image.Image | np.ndarray
# what MLflow accepts in a param key or an image key on every OS (":" is refused on Windows)
_MLFLOW_KEY_CHARS = re.compile(r"[^\w.\- /]")
TRUNCATED = "...[truncated]"


def build_loggers(cfg: DictConfig) -> list[Logger]:
    """One logger per entry of ``cfg.logger`` (none when it is ``null``)."""
    return [instantiate(c) for c in (cfg.get("logger") or {}).values() if c]


def close_loggers(loggers: list[Logger], status: str = "success") -> None:
    """Flush every logger; W&B runs are finished, so a sweep never merges two runs into one."""
    for logger in loggers:
        logger.finalize(status)
        if isinstance(logger, WandbLogger):
            logger.experiment.finish()


@rank_zero_only
def log_image(
    loggers: Iterable[Logger], key: str, image: Picture, step: int | None = None, caption: str | None = None
) -> None:
    """Send one picture to every logger that shows pictures, each in its own way: W&B as a media
    panel with the caption, TensorBoard as an image summary, MLflow as a step image (the artifact
    ``images/<key, / as ~>+step+<step>+...png``). TensorBoard and MLflow have no caption; the others
    (CSV) show no pictures and skip it."""
    for logger in loggers:
        _send_image(logger, key, image, step, caption)


@singledispatch
def _send_image(logger: Logger, key: str, image: Picture, step: int | None, caption: str | None) -> None:
    """A logger that shows no pictures (CSV, ...)."""


@_send_image.register(WandbLogger)
def _(logger: WandbLogger, key: str, image: Picture, step: int | None, caption: str | None) -> None:
    logger.log_image(key, [image], step=step, **({"caption": [caption]} if caption is not None else {}))


@_send_image.register(TensorBoardLogger)
def _(logger: TensorBoardLogger, key: str, image: Picture, step: int | None, caption: str | None) -> None:
    logger.experiment.add_image(key, np.asarray(_rgb(image)), global_step=step, dataformats="HWC")


@_send_image.register(pl_loggers.MLFlowLogger)
def _(
    logger: pl_loggers.MLFlowLogger, key: str, image: Picture, step: int | None, caption: str | None
) -> None:
    # an image key allows no other characters (attention maps are keyed by image file names)
    key = _MLFLOW_KEY_CHARS.sub("_", key)
    logger.experiment.log_image(logger.run_id, _rgb(image), key=key, step=step or 0)


def _rgb(image: Picture) -> Image.Image:
    return (Image.fromarray(image) if isinstance(image, np.ndarray) else image).convert("RGB")


class MLFlowLogger(pl_loggers.MLFlowLogger):
    """Lightning's MLflow logger, kept off the network, with hyper-parameters that MLflow accepts.

    MLflow refuses a param key with characters other than alphanumerics and ``_-. /`` (and ``:``
    off Windows), a value longer than ``mlflow.utils.validation.MAX_PARAM_VAL_LENGTH`` (6000 in
    MLflow 3) and more than 100 params per request; Lightning's logger cuts every value at 250
    characters without a word (a 19-class palette is longer). :meth:`log_hyperparams` instead logs
    :func:`mlflow_params` of the nested config, 100 at a time, and the config whole as the artifact
    ``hparams.yaml`` (as the CSV and TensorBoard loggers write theirs), so a cut value is not lost.

    Args:
        experiment_name: the MLflow experiment the run belongs to.
        tracking_uri: the store; ``file:<dir>`` is a local file store (no server). Unlike
            Lightning's logger, ``MLFLOW_TRACKING_URI`` is not read: a run goes where its config says.
        run_name: the run's name in MLflow.
        tags: run tags; a list value (W&B-style tags) is joined with ``", "``.
        log_model: log checkpoints as artifacts (Lightning's ``log_model``).
    """

    def __init__(
        self,
        experiment_name: str,
        tracking_uri: str,
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        log_model: bool | Literal["all"] = False,
    ) -> None:
        # MLflow reads both from the environment only, the second at its first import: recent
        # MLflow 3 refuses a file store unless allowed (it prefers a database, through SQLAlchemy),
        # and sends usage telemetry from a thread started at import unless disabled.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        plain_tags = {
            str(k): ", ".join(map(str, v)) if isinstance(v, Sequence) and not isinstance(v, str) else str(v)
            for k, v in (tags or {}).items()
        }
        super().__init__(
            experiment_name=experiment_name,
            run_name=run_name,
            tracking_uri=tracking_uri,
            tags=plain_tags,
            log_model=log_model,
        )

    @rank_zero_only
    def log_hyperparams(self, params: Mapping[str, Any] | Namespace) -> None:
        params = vars(params) if isinstance(params, Namespace) else params
        if not params:
            return  # else an empty hparams.yaml would replace the config logged before
        from mlflow.entities import Param
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH

        params = OmegaConf.to_container(params, resolve=True) if isinstance(params, DictConfig) else params
        self.experiment.log_dict(self.run_id, dict(params), "hparams.yaml")
        batch = [Param(k, v) for k, v in mlflow_params(params, MAX_PARAM_VAL_LENGTH).items()]
        for start in range(0, len(batch), MAX_PARAMS_TAGS_PER_BATCH):
            chunk = batch[start : start + MAX_PARAMS_TAGS_PER_BATCH]
            self.experiment.log_batch(self.run_id, params=chunk, **self._log_batch_kwargs)


def mlflow_params(
    params: Mapping[str, Any], max_value_length: int, max_key_length: int = 250
) -> dict[str, str]:
    """Nested hyper-parameters as MLflow params: mappings flattened to ``a/b/c`` keys (lists stay
    whole, as ``str(list)``), characters MLflow refuses in a key replaced by ``_``, keys cut at
    ``max_key_length``, values longer than ``max_value_length`` cut to end with :data:`TRUNCATED`
    (with a warning naming them)."""
    flat: dict[str, str] = {}

    def visit(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, Mapping) and value:
                visit(value, f"{name}/")
            else:
                flat[_MLFLOW_KEY_CHARS.sub("_", name)[:max_key_length]] = str(value)

    visit(params, "")
    cut = sorted(k for k, v in flat.items() if len(v) > max_value_length)
    for key in cut:
        flat[key] = flat[key][: max_value_length - len(TRUNCATED)] + TRUNCATED
    if cut:
        rank_zero_warn(f"MLflow params cut at {max_value_length} characters (whole in hparams.yaml): {cut}")
    return flat
