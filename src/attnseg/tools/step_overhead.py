"""What the template costs per training step: ``attnseg-train`` against a plain PyTorch loop, paired.

``attnseg-step-overhead [overrides] [--out DIR]`` (``make overhead ARGS="..."``), on a quiet
machine. Each pair starts fresh processes: one plain loop (:mod:`attnseg.tools.plain_loop`: the
same config, seed, data, Segmentor, losses, optimizer groups and poly LR in a bare
``forward, loss, backward, step`` loop), one ``attnseg-train`` with the same overrides (the real
command, fitting the training steps only: no validation, no test; outputs in a temporary folder)
and one more ``attnseg-train`` per variant (default: without the progress bar, without the
logger, with neither callbacks nor logger). They take turns (:mod:`attnseg.tools.turns`): each
trains ``--turn-steps`` steps while the others wait, so all see the same machine and never
compute at once (timed one after the other, the same run drifts by 20% on a 2-core machine).
Each process times its own turns, from taking the baton to handing it on, so all the loop does
between steps is inside them; the first ``--warmup-turns`` turns are left out, and all turns fall
in the first epoch.

Overhead = plain images/s / template images/s - 1 (the extra time per step), per pair; the
report gives the median over pairs with the min..max, and per variant what leaving its part out
saves. The sides must train alike: parameter groups, LRs and poly-LR length are compared at the
start and the LRs after every turn (a mismatch stops the benchmark); the losses are reported
(equal on the CPU). Threads a waiting process keeps running (the progress bar's refresh, a
logger's writer; DataLoader workers with ``dataset.num_workers > 0``) can run during another's
turn: the report gives the CPU time each process used while it waited.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from hydra.core.global_hydra import GlobalHydra

from attnseg.config.compose import compose
from attnseg.tools.overhead_processes import Contender, OverheadError
from attnseg.tools.overhead_report import machine, render, rows_of, write
from attnseg.tools.overhead_rounds import MAX_TURNS, Plan, run_round, template_overrides
from attnseg.tools.plain_loop import check_supported

# the template without its progress bar, without its logger, and with neither (Lightning and the
# module's own logging and metrics remain): the differences price each part
DEFAULT_VARIANTS = {
    "no_progress_bar": "callbacks.progress_bar=null ++trainer.enable_progress_bar=false",
    "no_logger": "logger=none",
    "bare_lightning": (
        "logger=none callbacks=none ++trainer.enable_progress_bar=false "
        "++trainer.enable_model_summary=false ++trainer.enable_checkpointing=false"
    ),
}


def parse_variants(specs: Sequence[str]) -> dict[str, list[str]]:
    variants = {}
    for spec in specs:
        name, sep, overrides = spec.partition("=")
        if not sep or not name.isidentifier() or name in ("plain", "template"):
            raise OverheadError(f"--variant {spec!r}: expected NAME=OVERRIDES, NAME not plain or template")
        variants[name] = overrides.split()
    return variants


def check_config(plan: Plan) -> None:
    """Compose every process's config before anything starts, so a bad override stops the run at once."""
    with tempfile.TemporaryDirectory(prefix="attnseg-step-overhead-") as work:
        sides = {"the plain loop": plan.overrides}
        for t in plan.templates:
            sides[t.name] = template_overrides(plan, t, Path(work), "0", "1")
        try:
            for who, overrides in sides.items():
                try:
                    cfg = compose("train", overrides, output_dir=work)
                except Exception as err:  # Hydra's errors name the override
                    raise OverheadError(f"bad override for {who} ({' '.join(overrides)}): {err}") from err
                if who == "the plain loop":
                    try:
                        check_supported(cfg)
                    except ValueError as err:
                        raise OverheadError(f"the plain loop cannot run this config: {err}") from err
        finally:
            GlobalHydra.instance().clear()


def benchmark(plan: Plan, out: Path | None = None) -> dict[str, object]:
    """Run the pairs; print the report (and write it into ``out``); return its figures."""
    check_config(plan)
    info = machine(plan.threads)
    load, cores = os.getloadavg()[0], len(os.sched_getaffinity(0))
    if load > 0.25 * cores:
        print(f"load average {load:.2f} on {cores} cores: the machine is busy, the figures will be noisy")
    per_pair: list[dict[str, Contender]] = []
    for pair in range(plan.pairs):
        start = time.monotonic()
        per_pair.append(run_round(plan, pair))
        print(f"pair {pair + 1}/{plan.pairs}: {time.monotonic() - start:.0f} s", flush=True)
    info["load average after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = rows_of(per_pair, plan)
    markdown, summary = render(plan, info, rows, per_pair)
    print(markdown)
    if out is not None:
        write(out, markdown, rows)
        print(f"written: {out / 'step_overhead.md'}, {out / 'step_overhead.csv'}")
    return {"rows": rows, "summary": summary}


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(
        prog="attnseg-step-overhead",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of both sides, as for attnseg-train")
    parser.add_argument("--pairs", type=int, default=5, help="fresh process pairs (default 5)")
    parser.add_argument(
        "--turns",
        type=int,
        default=None,
        help=f"timed turns per process and pair (default: as many as the first epoch holds, at most {MAX_TURNS})",
    )
    parser.add_argument("--warmup-turns", type=int, default=2, help="turns left out first (default 2)")
    parser.add_argument("--turn-steps", type=int, default=7, help="training steps per turn (default 7)")
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="torch threads of every side (default: all cores)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=OVERRIDES",
        help="an extra template run, e.g. 'no_logger=logger=none' (repeatable; replaces the default set: "
        + "; ".join(f"{k}={v}" for k, v in DEFAULT_VARIANTS.items())
        + ")",
    )
    parser.add_argument("--no-variants", action="store_true", help="the template and the plain loop only")
    parser.add_argument(
        "--no-tty",
        dest="tty",
        action="store_false",
        help="the template writes to a file, as under CI or SLURM (default: a pseudo-terminal, so the "
        "progress bar renders as in a terminal)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="longest wait for one start or turn, s")
    parser.add_argument("--goal", type=float, default=2.0, help="overhead goal, %% (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep each pair's logs and run folders")
    parser.add_argument("--out", type=Path, default=None, help="write step_overhead.md and .csv here")
    args = parser.parse_intermixed_args(argv)
    for name in ("pairs", "turns", "turn_steps", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup_turns < 0:
        parser.error("--warmup-turns must be at least 0")
    variants = {} if args.no_variants else parse_variants(args.variant) if args.variant else None
    if variants is None:
        variants = {name: spec.split() for name, spec in DEFAULT_VARIANTS.items()}
    plan = Plan(
        list(args.overrides),
        variants,
        pairs=args.pairs,
        turns=args.turns,
        warmup_turns=args.warmup_turns,
        turn_steps=args.turn_steps,
        threads=args.threads,
        tty=args.tty,
        timeout=args.timeout,
        goal=args.goal,
        keep=args.keep,
    )
    return benchmark(plan, args.out)


def cli() -> None:
    """Console-script entry point (``[project.scripts]``): ``main`` on the command line's arguments."""
    try:
        main(sys.argv[1:])
    except OverheadError as err:
        sys.exit(f"attnseg-step-overhead: {err}")


if __name__ == "__main__":
    cli()
