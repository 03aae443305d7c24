"""Which process of a distributed run this is, before Lightning has set anything up.

Lightning's ``rank_zero_only.rank`` reads ``RANK`` / ``LOCAL_RANK`` / ``SLURM_PROCID``; the first
process of the second machine of a multi-node run (started by the user with ``NODE_RANK=1``) has
none of them yet, and would write into the run directory as if it were rank 0.
"""

from __future__ import annotations

import os

RANK_VARIABLES = ("RANK", "SLURM_PROCID", "NODE_RANK", "GROUP_RANK", "LOCAL_RANK")


def is_rank_zero() -> bool:
    """True unless an environment variable of the launchers says this process is not the first."""
    return all(int(os.environ.get(name, "0") or 0) == 0 for name in RANK_VARIABLES)


def rank_zero_only(value: str) -> str | None:
    """``value`` on the first process, ``None`` on the others (``hydra.output_subdir``)."""
    return value if is_rank_zero() else None
