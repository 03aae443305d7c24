"""Which run directory a training run writes into, and which checkpoint ``ckpt_path=last`` means.

A training run that resumes from a checkpoint of an earlier run continues in that run's
directory (same ``config.yaml`` history, log, checkpoints, metrics and W&B run), instead of
starting a new one. ``ckpt_path=last`` names the newest unfinished run of the same task: a run
directory with ``checkpoints/last.ckpt`` and no ``metrics.json`` (written when a run finishes).
"""

from __future__ import annotations

from pathlib import Path

LAST = "last"
CHECKPOINT = Path("checkpoints") / "last.ckpt"
FINISHED = "metrics.json"


def unfinished_runs(runs_root: str | Path) -> list[Path]:
    """Run directories under ``runs_root`` with a last checkpoint and no final metrics, oldest first."""
    root = Path(runs_root)
    runs = [
        p.parent.parent for p in root.glob(f"*/{CHECKPOINT}") if not (p.parent.parent / FINISHED).exists()
    ]
    return sorted(runs, key=lambda run: ((run / CHECKPOINT).stat().st_mtime, run.name))


def run_dir(runs_root: str, fresh_name: str, ckpt_path: str | None = None) -> str:
    """``hydra.run.dir``: the run directory that ``ckpt_path`` belongs to, else a fresh one.

    ``ckpt_path=last`` picks the newest unfinished run under ``runs_root``; a checkpoint file in
    ``<runs_root>/<run>/checkpoints/`` picks ``<run>``; anything else (no checkpoint, a file
    from elsewhere, no unfinished run) gets ``<runs_root>/<fresh_name>``.
    """
    root = Path(runs_root)
    if ckpt_path == LAST:
        runs = unfinished_runs(root)
        return str(runs[-1]) if runs else str(root / fresh_name)
    if ckpt_path:
        ckpt = Path(ckpt_path).expanduser().absolute()
        if ckpt.parent.name == "checkpoints" and ckpt.parent.parent.parent == root.absolute():
            return str(ckpt.parent.parent)
    return str(root / fresh_name)


def wandb_run_id(run_dir: str) -> str | None:
    """The id of the W&B run already logged in ``run_dir`` (``wandb/*run-<time>-<id>``), if any,
    so that a resumed run continues it; ``None`` lets W&B make a new one."""
    runs = sorted(Path(run_dir).glob("wandb/*run-*-*"), key=lambda p: p.name)
    runs = [p for p in runs if p.is_dir() and not p.is_symlink()]
    return runs[-1].name.rsplit("-", 1)[-1] if runs else None
