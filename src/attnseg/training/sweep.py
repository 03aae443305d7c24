"""Hydra callback for sweeps: failed-job markers, and DDP inside a multirun.

``SweepCallback`` is registered in ``conf/hydra/default.yaml`` (``hydra.callbacks``):

* a job that raises gets a ``failed.json`` (error and traceback) in its run directory and an
  error line in its log; Hydra's launchers run the remaining jobs of the sweep as usual, the
  multirun exits non-zero at the end, and ``attnseg-report`` lists the failed runs;
* inside a multirun it points ``sys.argv`` and ``hydra.run.dir`` at the current job, so that
  Lightning's DDP launcher starts the other ranks on *this* job, in *this* job's directory
  (it re-runs ``sys.argv`` in run mode, which would otherwise replay the whole sweep); after
  the job it closes the job's process group and drops the rank variables Lightning exported,
  so the next job of the sweep launches its own ranks instead of reusing the finished ones.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict, read_write

from attnseg.config import resolvers

log = logging.getLogger(__name__)

FAILED_MARKER = "failed.json"
# exported by Lightning's DDP launcher into the launching process
DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


class SweepCallback(Callback):
    """Marks failed jobs and makes DDP children re-run only their own job (see module docstring)."""

    def __init__(self) -> None:
        resolvers.register()  # Hydra builds this callback before it resolves any job's config
        self._argv: list[str] | None = None
        self._env: dict[str, str | None] = {}

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        job_dir = config.hydra.runtime.output_dir
        with read_write(config.hydra), open_dict(config.hydra):
            config.hydra.run.dir = job_dir
        HydraConfig.instance().set_config(config)
        self._argv = sys.argv[:]
        self._env = {name: os.environ.get(name) for name in DDP_ENV}
        # Lightning appends hydra.run.dir=<HydraConfig run.dir> and hydra.output_subdir=null itself.
        sys.argv = [sys.argv[0], *config.hydra.overrides.task]

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if self._argv is not None:
            sys.argv, self._argv = self._argv, None
            self._end_ddp()
        if job_return.status != JobStatus.FAILED:
            return
        error = job_return._return_value  # JobReturn.return_value would re-raise it
        run_dir = Path(config.hydra.runtime.output_dir)
        report = {
            "error": f"{type(error).__name__}: {error}",
            "traceback": "".join(traceback.format_exception(type(error), error, error.__traceback__)),
            "overrides": list(config.hydra.overrides.task),
            "job_num": config.hydra.job.get("num"),
        }
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / FAILED_MARKER).write_text(json.dumps(report, indent=2))
        log.error(f"Job failed ({report['error']}); details in {run_dir / FAILED_MARKER}")

    def _end_ddp(self) -> None:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for name, value in self._env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._env = {}
