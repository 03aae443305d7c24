"""The referee of ``attnseg-step-overhead``: starts one round's processes and hands the baton round.

A round (a "pair") is one fresh plain loop plus one fresh ``attnseg-train`` per template run
(the template and each variant). Every process gets a pipe pair (inherited descriptors, see
:class:`attnseg.tools.turns.Baton`) and the same torch thread count; the referee waits until all
are ready, then gives each in turn ``turns + warmup_turns`` turns, starting with a different
process each round, and finally tells all to stop.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnseg.tools.overhead_processes import Contender, OverheadError, start, tail

# the real training command, as its console script runs it
TRAIN = "import sys; from attnseg.tasks.train import main; sys.exit(main())"
# a fit of the training steps only: no validation, no sanity check, no test, no sweeper metric
# (`++`: whether or not the config names the key). ModelCheckpoint(monitor="val/miou") stays: it
# only warns at the end that the metric is missing, and saves last.ckpt, after the timed turns.
TEMPLATE_RUN = [
    "++trainer.limit_val_batches=0",
    "++trainer.num_sanity_val_steps=0",
    "++test=false",
    "++optimized_metric=null",
]
MAX_TURNS = 20  # timed turns without --turns: as many as the first epoch holds, at most these


@dataclass
class Template:
    """One ``attnseg-train`` run of every round: the template, or a variant of it."""

    name: str
    overrides: list[str]


@dataclass
class Plan:
    """What the benchmark runs, the same in every pair (``attnseg-step-overhead --help``)."""

    overrides: list[str]
    variants: dict[str, list[str]]
    pairs: int = 5
    turns: int | None = None  # None: as many as the first epoch holds, at most MAX_TURNS
    warmup_turns: int = 2
    turn_steps: int = 7
    threads: int = 1
    tty: bool = True
    timeout: float = 900.0
    goal: float = 2.0
    keep: bool = False
    templates: list[Template] = field(init=False)

    def __post_init__(self) -> None:
        self.templates = [Template("template", [])] + [Template(n, o) for n, o in self.variants.items()]


def template_overrides(
    plan: Plan, template: Template, run_dir: Path, read_fd: str, write_fd: str
) -> list[str]:
    """The overrides of one ``attnseg-train`` of a round: the user's, the variant's, a fit of the
    training steps only, and the baton callback."""
    return [
        *plan.overrides,
        *template.overrides,
        *TEMPLATE_RUN,
        f"hydra.run.dir={run_dir}",
        "+callbacks.take_turns._target_=attnseg.tools.turns.TakeTurns",
        f"+callbacks.take_turns.read_fd={read_fd}",
        f"+callbacks.take_turns.write_fd={write_fd}",
        f"+callbacks.take_turns.turn_steps={plan.turn_steps}",
    ]


def commands(plan: Plan, work: Path) -> dict[str, list[str]]:
    """The plain loop's command line and each template run's, by name (``{read_fd}`` and
    ``{write_fd}`` stand for the baton's descriptors)."""
    plain = ["-m", "attnseg.tools.plain_loop", "--read-fd", "{read_fd}", "--write-fd", "{write_fd}"]
    plain += ["--turn-steps", str(plan.turn_steps), "--run-dir", str(work / "plain")]
    out = {"plain": [sys.executable, *plain, *plan.overrides]}
    for t in plan.templates:
        overrides = template_overrides(plan, t, work / t.name, "{read_fd}", "{write_fd}")
        out[t.name] = [sys.executable, "-c", TRAIN, *overrides]
    return out


def check_ready(contenders: list[Contender], plan: Plan) -> int:
    """Every side runs the requested threads and trains the same parameter groups at the same LRs
    over the same schedule length as the plain loop. Returns the timed turns: ``plan.turns``, or
    as many as the first epoch holds (at most ``MAX_TURNS``); refuses turns past the first epoch."""
    plain = contenders[0].hello
    for c in contenders:
        if c.hello["threads"] != plan.threads:
            raise OverheadError(f"{c.name} runs {c.hello['threads']} torch threads, not {plan.threads}")
        for key in ("param_groups", "total_iters", "device"):
            if not same(c.hello[key], plain[key]):
                raise OverheadError(
                    f"{c.name} does not train like the plain loop: {key} {c.hello[key]} vs {plain[key]}"
                    + ("" if c.name == "template" else " (a variant changes the template's machinery only)")
                )
    batches = min(c.hello["batches"] for c in contenders)
    # the template runs one more step after its last turn: the one in which it learns to stop
    turns = plan.turns or min(MAX_TURNS, (batches - 1) // plan.turn_steps - plan.warmup_turns)
    needed = (plan.warmup_turns + max(turns, 1)) * plan.turn_steps + 1
    if batches < needed:
        raise OverheadError(
            f"the first epoch has {batches} training batches, {needed} are needed "
            "((--warmup-turns + --turns) x --turn-steps + 1): lower --turns or train on more samples "
            "(dataset.train.num_samples)"
        )
    return turns


def same(a: Any, b: Any) -> bool:
    """Equal, floats to a relative 1e-6 (LRs), recursively."""
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-6)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def check_turns(contenders: list[Contender]) -> None:
    """After every turn each side is at the same point of the same LR schedule as the plain loop."""
    plain = contenders[0]
    for c in contenders[1:]:
        for turn, (mine, theirs) in enumerate(zip(c.turns, plain.turns, strict=True)):
            if mine["steps"] != theirs["steps"] or not same(mine["learning_rates"], theirs["learning_rates"]):
                raise OverheadError(
                    f"{c.name} and the plain loop diverged by timed turn {turn + 1}: after step "
                    f"{mine['steps']} its LRs are {mine['learning_rates']}, the plain loop's after step "
                    f"{theirs['steps']} {theirs['learning_rates']}"
                )


def run_round(plan: Plan, index: int) -> dict[str, Contender]:
    """One pair: every process fresh; returns them by name, with their timed turns."""
    work = Path(tempfile.mkdtemp(prefix="attnseg-step-overhead-"))
    env = {**os.environ, "OMP_NUM_THREADS": str(plan.threads), "MKL_NUM_THREADS": str(plan.threads)}
    if plan.tty:
        env.setdefault("TERM", "xterm-256color")
    contenders: list[Contender] = []
    try:
        for name, command in commands(plan, work).items():
            contenders.append(start(name, command, work, env, plan.tty and name != "plain"))
        for c in contenders:
            c.hello = c.expect("ready", plan.timeout)
        turns = check_ready(contenders, plan)
        shift = index % len(contenders)  # who goes first changes from pair to pair
        order = contenders[shift:] + contenders[:shift]
        for turn in range(plan.warmup_turns + turns):
            for c in order:
                c.send("go")
                message = c.expect("turn", plan.timeout)
                if turn >= plan.warmup_turns:
                    c.turns.append(message)
        check_turns(contenders)
        for c in contenders:
            c.send("stop")
        for c in contenders:
            try:
                status = c.process.wait(plan.timeout)
            except subprocess.TimeoutExpired:
                status = "timed out"
            if status != 0:
                raise OverheadError(
                    f"{c.name} did not end cleanly ({status}); its output ends:\n{tail(c.log)}"
                )
    except BaseException:
        for c in contenders:
            if c.process.poll() is None:
                os.killpg(c.process.pid, signal.SIGKILL)
                c.process.wait()
        print(f"the processes' outputs are kept in {work}", file=sys.stderr)
        raise
    finally:
        for c in contenders:
            c.baton.close()
    if plan.keep:
        print(f"pair {index + 1}: the processes' outputs are in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return {c.name: c for c in contenders}
