"""Taking turns: contenders that run their training steps one at a time and time their own turns.

``attnseg-step-overhead`` (the referee) starts every contender with a pipe pair and hands a
baton round: a contender computes only while it holds the baton, so the template and the plain
loop see the same machine without ever competing for its cores. The baton is a JSON line on a
pipe: a waiting contender blocks in ``read`` (no polling), and a contender that dies closes its
pipe, which the referee reads as an end of file instead of waiting for ever.

A turn is ``turn_steps`` whole loop cycles, from the start of one step to the start of the step
after the turn: whatever the loop does between two steps (Lightning's bookkeeping, logging,
callbacks, the progress bar, fetching the next batch) falls inside it, once per step.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import time
from collections.abc import Callable
from typing import Any

import lightning as L
import torch

Message = dict[str, Any]


class Baton:
    """One end of a pipe pair that carries JSON lines; every exchange is one line each way."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._in = os.fdopen(read_fd, "r", encoding="utf-8")
        self._out = os.fdopen(write_fd, "w", encoding="utf-8", buffering=1)

    def send(self, **message: Any) -> None:
        self._out.write(json.dumps(message, default=str) + "\n")  # default: settings like betas

    def recv(self, timeout: float | None = None) -> Message:
        """The next message; ``EOFError`` when the other end closed, ``TimeoutError`` after ``timeout`` s."""
        # select on the raw fd is sound here: the other side never sends a second line unasked,
        # so nothing can be waiting in the reader's buffer
        if timeout is not None and not select.select([self._in], [], [], timeout)[0]:
            raise TimeoutError(f"no message within {timeout:.0f} s")
        line = self._in.readline()
        if not line:
            raise EOFError("the other end of the baton closed")
        return json.loads(line)

    def close(self) -> None:
        for stream in (self._in, self._out):
            with contextlib.suppress(OSError):  # the other end is gone: nothing left to flush to
                stream.close()


class Turns:
    """A contender's side of the baton: call ``before_step`` at the start of each step (after
    its batch was fetched) and ``after_step`` at its end; ``before_step`` returns ``False`` when
    the referee says stop.

    Args:
        baton: the pipe pair to the referee.
        turn_steps: steps per turn.
        learning_rates: the optimizer's current LR per parameter group (reported each turn, so
            the referee can check that both sides follow the same schedule).
        sync: waits for queued device work, so that a turn's time holds its own computation.
    """

    def __init__(
        self,
        baton: Baton,
        turn_steps: int,
        learning_rates: Callable[[], list[float]],
        sync: Callable[[], None] = lambda: None,
    ) -> None:
        if turn_steps < 1:
            raise ValueError(f"turn_steps must be at least 1, got {turn_steps}")
        self.baton, self.turn_steps = baton, turn_steps
        self.learning_rates, self.sync = learning_rates, sync
        self.steps = 0
        self._images = 0
        self._loss: torch.Tensor | None = None
        self._start: float | None = None
        self._cpu_start = 0.0
        self._cpu_handed_over: float | None = None
        self._idle_cpu = 0.0

    def hello(self, **info: Any) -> None:
        """Ready: tell the referee what this side is about to run, then wait for the first turn."""
        self.baton.send(event="ready", threads=torch.get_num_threads(), pid=os.getpid(), **info)

    def before_step(self) -> bool:
        if self.steps % self.turn_steps:
            return True
        if self._start is not None:
            self._hand_over()
        if self.baton.recv()["command"] == "stop":
            self.baton.close()
            return False
        self._cpu_start = time.process_time()
        # CPU this process used while another contender held the baton (its threads keep running)
        idle = self._cpu_start - self._cpu_handed_over if self._cpu_handed_over is not None else 0.0
        self._idle_cpu, self._images = idle, 0
        self._start = time.perf_counter()
        return True

    def after_step(self, images: int, loss: torch.Tensor) -> None:
        self.steps += 1
        self._images += images
        self._loss = loss  # read after the clock stops: .item() would wait for the device in the turn

    def _hand_over(self) -> None:
        self.sync()
        seconds = time.perf_counter() - self._start
        cpu = time.process_time() - self._cpu_start
        loss = float(self._loss) if self._loss is not None else float("nan")
        self.baton.send(
            event="turn",
            seconds=seconds,
            cpu_seconds=cpu,
            idle_cpu_seconds=self._idle_cpu,
            images=self._images,
            steps=self.steps,
            loss=loss,
            learning_rates=self.learning_rates(),
        )
        self._cpu_handed_over = time.process_time()


def param_groups(optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    """What the referee compares between the sides: per group, its tensor and element counts and
    every setting (LR, initial LR, weight decay, betas or momentum, ...)."""
    return [
        {
            "tensors": len(group["params"]),
            "elements": sum(p.numel() for p in group["params"]),
            **{key: value for key, value in group.items() if key != "params"},
        }
        for group in optimizer.param_groups
    ]


def device_sync(device: torch.device) -> Callable[[], None]:
    """Waits for the work queued on ``device``: a turn's time then holds its own computation."""
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)


class TakeTurns(L.Callback):
    """The template's side: added to ``attnseg-train`` by override, it holds training at each
    turn's end until the referee hands the baton back, and stops the fit when told to.

    Args:
        read_fd: the pipe the referee writes to (inherited from the referee).
        write_fd: the pipe the referee reads.
        turn_steps: training steps per turn.
    """

    def __init__(self, read_fd: int, write_fd: int, turn_steps: int = 7) -> None:
        self.read_fd, self.write_fd, self.turn_steps = read_fd, write_fd, turn_steps
        self.turns: Turns | None = None
        self.stopped = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        optimizer = trainer.optimizers[0]
        self.turns = Turns(
            Baton(self.read_fd, self.write_fd),
            self.turn_steps,
            lambda: [group["lr"] for group in optimizer.param_groups],
            device_sync(pl_module.device),
        )
        schedulers = trainer.lr_scheduler_configs
        self.turns.hello(
            side="template",
            batches=trainer.num_training_batches,
            param_groups=param_groups(optimizer),
            total_iters=getattr(schedulers[0].scheduler, "total_iters", None) if schedulers else None,
            device=str(pl_module.device),
        )

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if not self.stopped and not self.turns.before_step():
            self.stopped = trainer.should_stop = True  # this batch still runs, untimed

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not self.stopped:
            self.turns.after_step(len(batch[0]), outputs["loss"])
