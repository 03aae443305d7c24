"""Exact resume: the random state of the process travels with every checkpoint.

With the data's randomness already a function of (seed, epoch, position)
(:mod:`attnseg.data.sampling`), what is left is the model's own draws (dropout): their RNG
state is saved in each checkpoint and put back just before the resumed run's first training
step, so a run killed and resumed from its last checkpoint ends with the same weights as the
run that was never interrupted (seeded, on the CPU: bitwise).
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch

KEY = "attnseg_rng_states"


def _capture() -> dict[str, Any]:
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        # plain lists and tuples of numbers: loadable with torch.load(weights_only=True)
        "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
        "python": random.getstate(),
    }


def _restore(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    kind, keys, *rest = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))
    random.setstate(tuple(tuple(s) if isinstance(s, list) else s for s in states["python"]))


class RestoreRandomState(L.Callback):
    """Saves the RNG states (torch, CUDA, NumPy, Python) in checkpoints; a resumed fit restores them
    at ``on_train_start``, after the sanity check and data set-up, before the first step."""

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[KEY] = _capture()

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self._pending = checkpoint.get(KEY)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._pending is not None:
            _restore(self._pending)
            self._pending = None
