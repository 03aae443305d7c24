"""Mutation check: plant one known bug at a time and expect the fast tests that cover it to fail.

    .venv/bin/python -m tests.mutation_check            # every mutation (about 5 min on 2 cores)
    .venv/bin/python -m tests.mutation_check poly aux   # some of them, by name

Each mutation edits a copy of ``src/`` and ``conf/`` in a temporary folder (the checkout is never
touched, so an interrupted check leaves nothing behind), then runs the named tests against the
copy (``PYTHONPATH`` puts it before the installed package). A mutation the tests do not notice
("survived") is a hole in the suite. ``tests/test_mutations.py`` runs this in ``make test-slow``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str  # relative to the repository root
    old: str
    new: str
    tests: tuple[str, ...]


ATTENTION = "tests/models/attention/test_attention_modules.py"
MUTATIONS = [
    Mutation(
        "cam_energy",
        "src/attnseg/models/attention/channel_attention.py",
        "energy = energy.amax(dim=-1, keepdim=True) - energy",
        "energy = energy",
        (ATTENTION,),
    ),
    Mutation(
        "criss_cross_self_twice",
        "src/attnseg/models/attention/_criss_cross_function.py",
        'torch.diagonal(col, dim1=-2, dim2=-1).fill_(float("-inf"))',
        "pass",
        (ATTENTION,),
    ),
    Mutation(
        "non_local_scale",
        "src/attnseg/models/attention/non_local.py",
        "self.scale = inner**-0.5 if use_scale else 1.0",
        "self.scale = 1.0",
        (ATTENTION,),
    ),
    Mutation(
        "self_attention_residual",
        "src/attnseg/models/attention/self_attention.py",
        "out = self.gamma * out + x",
        "out = self.gamma * out",
        (ATTENTION,),
    ),
    Mutation(
        "loss_ignore_index",
        "src/attnseg/training/losses.py",
        "return F.cross_entropy(logits, target, weight=self.class_weights, ignore_index=self.ignore_index)",
        "return F.cross_entropy(logits, target.clamp(max=logits.shape[1] - 1), weight=self.class_weights)",
        ("tests/training/test_losses.py",),
    ),
    Mutation(
        "ohem_threshold",
        "src/attnseg/training/losses.py",
        "return valid & (prob <= threshold)",
        "return valid & (prob >= threshold)",
        ("tests/training/test_losses.py",),
    ),
    Mutation(
        "metrics_ignore_index",
        "src/attnseg/training/metrics.py",
        '"ignore_index": ignore_index,',
        '"ignore_index": None,',
        ("tests/training/test_objective.py",),
    ),
    Mutation(
        "aux",
        "src/attnseg/training/module.py",
        'self.loss_weights = {"out": 1.0, "aux": 0.4, **dict(loss_weights or {})}',
        'self.loss_weights = {**dict(loss_weights or {}), "out": 1.0, "aux": 0.4}',
        ("tests/training/test_objective.py",),
    ),
    Mutation(
        "poly",
        "conf/scheduler/poly.yaml",
        "power: 0.9",
        "power: 1.0",
        ("tests/training/test_objective.py",),
    ),
    Mutation(
        "cityscapes_label_ids",
        "src/attnseg/data/cityscapes.py",
        "TRAIN_IDS = {7: 0, 8: 1, 11: 2,",
        "TRAIN_IDS = {7: 0, 8: 1, 11: 3,",
        ("tests/data/test_datasets.py",),
    ),
    Mutation(
        "ade20k_shift",
        "src/attnseg/data/ade20k.py",
        "LUT = label_lut({0: IGNORE, **{k: k - 1 for k in range(1, NUM_CLASSES + 1)}})",
        "LUT = label_lut({0: IGNORE, **{k: min(k, NUM_CLASSES - 1) for k in range(1, NUM_CLASSES + 1)}})",
        ("tests/data/test_datasets.py",),
    ),
]


def copy_tree(dest: Path) -> None:
    shutil.copytree(ROOT / "src", dest / "src", symlinks=True, ignore=shutil.ignore_patterns("*.egg-info"))
    shutil.copytree(ROOT / "conf", dest / "conf")  # src/attnseg/conf links to ../../conf


def run(mutation: Mutation) -> str:
    """``caught``, ``survived``, or ``stale`` (the code to mutate is no longer there)."""
    with tempfile.TemporaryDirectory(prefix=f"mutation-{mutation.name}-") as tmp:
        copy_tree(Path(tmp))
        target = Path(tmp) / mutation.file
        text = target.read_text()
        if text.count(mutation.old) != 1:
            return "stale"
        target.write_text(text.replace(mutation.old, mutation.new))
        env = {**os.environ, "PYTHONPATH": str(Path(tmp) / "src"), "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-m", "not slow", "-p", "no:cacheprovider"]
        result = subprocess.run([*cmd, *mutation.tests], cwd=ROOT, env=env, capture_output=True, text=True)
        if result.returncode not in (0, 1):  # 2+: collection or usage error, not a caught bug
            raise RuntimeError(
                f"{mutation.name}: pytest exited {result.returncode}:\n{result.stdout[-2000:]}"
            )
        return "caught" if result.returncode == 1 else "survived"


def main(names: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not names or m.name in names]
    unknown = set(names) - {m.name for m in MUTATIONS}
    if unknown:
        print(f"unknown mutations {sorted(unknown)}; known: {[m.name for m in MUTATIONS]}")
        return 2
    outcomes = {m.name: run(m) for m in chosen}
    for name, outcome in outcomes.items():
        print(f"{outcome:9s} {name}")
    bad = [n for n, o in outcomes.items() if o != "caught"]
    print(
        f"{len(outcomes) - len(bad)}/{len(outcomes)} mutations caught"
        + (f"; not caught: {bad}" if bad else "")
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
