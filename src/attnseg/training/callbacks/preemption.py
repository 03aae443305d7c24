"""Preemption: on SIGTERM (what SLURM and most schedulers send before they stop a job), keep the work.

Lightning stops after the current training batch when the process receives SIGTERM and raises
``SIGTERMException``; this callback then saves a resumable checkpoint of that point (the
partial epoch included) as ``<dirpath>/last.ckpt``, which ``ckpt_path=last`` resumes exactly.
The train command then exits with status 143 (128 + SIGTERM), so a scheduler sees the job did not
finish (SLURM: requeue it, e.g. ``sbatch --requeue``, and run it again with ``ckpt_path=last``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)
PREEMPTED_EXIT_CODE = 143


class SaveOnPreemption(L.Callback):
    """Writes ``<dirpath>/last.ckpt`` when the fit is stopped by SIGTERM.

    Args:
        dirpath: the checkpoint folder of the run (the model checkpoint callback's).
    """

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)
        self.saved: Path | None = None

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if not isinstance(exception, SIGTERMException) or trainer.state.fn != "fit":
            return
        path = self.dirpath / "last.ckpt"
        trainer.save_checkpoint(path)  # every rank calls it; rank 0 writes
        self.saved = path
        log.warning(
            f"SIGTERM: stopped after step {trainer.global_step} (epoch {trainer.current_epoch}); saved a "
            f"resumable checkpoint {path}. Resume with ckpt_path=last (or ckpt_path={path})."
        )
