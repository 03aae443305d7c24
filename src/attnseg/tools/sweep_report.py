"""Hydra callback: the results table of a sweep, written when the sweep ends.

The diagnostic presets (``conf/experiment/diag_*.yaml``) register it in ``hydra.callbacks``, so
``attnseg-train -m experiment=diag_two_passes`` ends with ``report.md``/``.csv``/``.png`` in the
sweep folder, as ``attnseg-report <sweep folder>`` would write them (:mod:`attnseg.tools.report`).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class ReportAtSweepEnd(Callback):
    """Runs ``attnseg-report <hydra.sweep.dir> *args`` after the last job of a multirun.

    Args:
        args: extra ``attnseg-report`` arguments (e.g. ``["--size", "512"]``).
    """

    def __init__(self, args: Sequence[str] = ()) -> None:
        self.args = [str(a) for a in args]

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = str(config.hydra.sweep.dir)
        log.info(f"Sweep finished: attnseg-report {sweep_dir} {' '.join(self.args)}".rstrip())
        # its own process, as on the command line: the cost measurements start from a clean heap
        result = subprocess.run([sys.executable, "-m", "attnseg.tools.report", sweep_dir, *self.args])
        if result.returncode:
            log.error(f"attnseg-report {sweep_dir} failed (exit status {result.returncode})")
