"""The figures of ``attnseg-step-overhead``: one row per run and pair, the summary, the report.

Overhead is the extra time per training image over the pair's plain loop,
``plain images/s / run images/s - 1``; a variant's cost of what it leaves out is the template's
ms per step minus the variant's, in the same pair. Medians are over pairs, with min..max.
"""

from __future__ import annotations

import csv
import datetime
import os
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from attnseg.tools.overhead_processes import Contender
from attnseg.tools.overhead_rounds import Plan

Row = dict[str, Any]


def machine(threads: int) -> dict[str, str]:
    """Where and when the benchmark ran."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    cores = len(os.sched_getaffinity(0))
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="minutes"),
        "machine": f"{cpu}, {cores} of {os.cpu_count()} cores{gpu}",
        "software": f"Python {platform.python_version()}, torch {torch.__version__}, torch threads per process: {threads}",
        "load average before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def rows_of(per_pair: Sequence[dict[str, Contender]], plan: Plan) -> list[Row]:
    """One row per pair and run: its timed steps, images/s, ms/step and overhead over the plain loop."""
    overrides = {"plain": "", **{t.name: " ".join(t.overrides) for t in plan.templates}}
    rows = []
    for pair, contenders in enumerate(per_pair, start=1):
        plain = contenders["plain"]
        for name, c in contenders.items():
            steps = len(c.turns) * plan.turn_steps
            images = sum(t["images"] for t in c.turns)
            seconds = sum(t["seconds"] for t in c.turns)
            rate = images / seconds
            plain_rate = sum(t["images"] for t in plain.turns) / sum(t["seconds"] for t in plain.turns)
            loss, plain_loss = c.turns[-1]["loss"], plain.turns[-1]["loss"]
            rows.append(
                {
                    "pair": pair,
                    "run": name,
                    "overrides": overrides[name],
                    "timed_steps": steps,
                    "steps_run": c.turns[-1]["steps"],
                    "images": images,
                    "seconds": round(seconds, 4),
                    "images_per_s": round(rate, 4),
                    "ms_per_step": round(1000 * seconds / steps, 3),
                    "ratio": round(rate / plain_rate, 5),
                    "overhead_pct": round(100 * (plain_rate / rate - 1), 3),
                    "cpu_per_wall": round(sum(t["cpu_seconds"] for t in c.turns) / seconds, 3),
                    "cpu_while_waiting_ms_per_turn": round(
                        1000 * statistics.median(t["idle_cpu_seconds"] for t in c.turns), 2
                    ),
                    "final_loss": loss,
                    "loss_diff_vs_plain": abs(loss - plain_loss) / max(abs(plain_loss), 1e-12),
                }
            )
    return rows


def _spread(values: Sequence[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def summarize(rows: Sequence[Row]) -> dict[str, dict[str, float]]:
    """Per run: medians over pairs (ms/step, overhead with min..max, cost of what it leaves out)."""
    by_pair = {(r["pair"], r["run"]): r for r in rows}
    names = list(dict.fromkeys(r["run"] for r in rows))
    pairs = sorted({r["pair"] for r in rows})
    out = {}
    for name in names:
        mine = [by_pair[p, name] for p in pairs]
        overhead, low, high = _spread([r["overhead_pct"] for r in mine])
        figures = {
            "ms_per_step": statistics.median(r["ms_per_step"] for r in mine),
            "overhead_pct": overhead,
            "overhead_min": low,
            "overhead_max": high,
            "cpu_while_waiting_ms_per_turn": statistics.median(
                r["cpu_while_waiting_ms_per_turn"] for r in mine
            ),
        }
        if name not in ("plain", "template"):  # what leaving its part out saves, per pair
            saved = [by_pair[p, "template"]["ms_per_step"] - by_pair[p, name]["ms_per_step"] for p in pairs]
            figures["saves_ms_per_step"] = statistics.median(saved)
        out[name] = figures
    return out


def render(
    plan: Plan, info: dict[str, str], rows: Sequence[Row], per_pair: Sequence[dict[str, Contender]]
) -> tuple[str, dict]:
    """The report as markdown, and the summary it shows."""
    summary = summarize(rows)
    template = summary["template"]
    met = "met" if template["overhead_pct"] <= plan.goal else "not met"
    batch = rows[0]["images"] // rows[0]["timed_steps"]
    lines = [
        "# Training-step overhead: attnseg-train against a plain PyTorch loop",
        "",
        f"**Template overhead: {template['overhead_pct']:+.1f}% per training step** (median of "
        f"{len(per_pair)} pairs, min..max {template['overhead_min']:+.1f}..{template['overhead_max']:+.1f}%); "
        f"goal <= {plan.goal:g}%: {met}.",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {key} | {value} |" for key, value in info.items()),
        f"| config | {' '.join(plan.overrides) or '(defaults)'} |",
        f"| turns | {rows[0]['timed_steps'] // plan.turn_steps} timed turns of {plan.turn_steps} steps per process and pair after "
        f"{plan.warmup_turns} warm-up turn(s), batch {batch}, template output to "
        f"{'a pseudo-terminal' if plan.tty else 'a file'} |",
        "",
        "## Runs (medians over pairs)",
        "",
        "| run | overrides | ms/step | overhead vs plain (min..max) | leaving its part out saves, ms/step | CPU while waiting, ms/turn |",
        "| --- | --- | ---: | --- | ---: | ---: |",
    ]
    overrides = {r["run"]: r["overrides"] for r in rows}
    for name, s in summary.items():
        spread = (
            ""
            if name == "plain"
            else f"{s['overhead_pct']:+.2f}% ({s['overhead_min']:+.2f}..{s['overhead_max']:+.2f})"
        )
        saves = f"{s['saves_ms_per_step']:.1f}" if "saves_ms_per_step" in s else ""
        label = overrides[name] or ("(bare PyTorch)" if name == "plain" else "(as given)")
        lines.append(
            f"| {name} | {label} | {s['ms_per_step']:.1f} | {spread} | {saves} | {s['cpu_while_waiting_ms_per_turn']:.1f} |"
        )
    names = list(summary)
    lines += ["", "## Per pair (ms/step, overhead vs that pair's plain loop)", ""]
    lines += ["| pair | " + " | ".join(names) + " | largest loss difference vs plain |"]
    lines += ["| ---: |" + " ---: |" * len(names) + " ---: |"]
    for pair in sorted({r["pair"] for r in rows}):
        mine = {r["run"]: r for r in rows if r["pair"] == pair}
        cells = [f"{mine['plain']['ms_per_step']:.1f}"]
        cells += [f"{mine[n]['ms_per_step']:.1f} ({mine[n]['overhead_pct']:+.2f}%)" for n in names[1:]]
        loss = max(r["loss_diff_vs_plain"] for r in mine.values())
        lines.append(f"| {pair} | " + " | ".join(cells) + f" | {loss:.1e} |")
    lines += [
        "",
        "Overhead: plain images/s / run images/s - 1, the extra time per training step. Each process "
        "times its own turns, from taking the baton to handing it on. CPU while waiting: processor "
        "time a process used while another held the baton (background threads: the progress bar's "
        "refresh, the logger); it is not in that process's own time but slows the holder's. A loss "
        "difference above 0 means the sides did not compute bit for bit the same steps.",
    ]
    return "\n".join(lines) + "\n", summary


def write(out: Path, markdown: str, rows: Sequence[Row]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "step_overhead.md").write_text(markdown)
    with (out / "step_overhead.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
