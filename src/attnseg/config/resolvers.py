"""OmegaConf resolvers used by the configs; importing this module registers them.

``${sweep_group:<default>}``: the W&B group of a run. Every job of one multirun gets the same,
readable group, ``<default>-<sweep dir name>`` (e.g. ``train-2024-05-01_12-00-00``); a single run
gets ``<default>``.

``${optuna_sqlite:<path>}``: an Optuna storage URL for an sqlite file, its folder created.

``${optuna_trials_left:<storage>,<study name>,<total>}``: how many of ``total`` trials the study
has yet to finish (all of them for a new study), so that re-running an interrupted search with
``hydra.sweeper.n_trials`` set to this completes it instead of adding ``total`` more trials.

``${target_name:<dotted path>}``: the last component of a ``_target_`` (``CCHead`` for
``attnseg.models.heads.CCHead``), for run names.

``${run_dir:<runs root>,<fresh name>,<ckpt_path>}`` and ``${wandb_run_id:<run dir>}``: a resumed
training run continues the run directory and the W&B run of its checkpoint (:mod:`attnseg.config.resume`).

``${rank_zero_only:<value>}``: the value on the first process of a distributed run, null on the
others (they write nothing into the run directory).

``${launch_dir:}``: the directory the command was started from (Hydra's ``runtime.cwd``). Unlike
``${hydra:runtime.cwd}`` it also resolves before Hydra sets its config, which is when a multirun
instantiates its launcher (submitit resolves ``hydra.sweep.dir`` right then).

:func:`register` registers them; every command and :func:`attnseg.config.compose.compose` call it
before a config is resolved.
"""

from __future__ import annotations

import os
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from attnseg.config.ranks import rank_zero_only
from attnseg.config.resume import run_dir, wandb_run_id


def sweep_group(default: str) -> str:
    """``<default>-<basename of hydra.sweep.dir>`` inside a multirun, else ``default``."""
    if not HydraConfig.initialized():
        return default
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return default
    return f"{default}-{Path(str(hydra_cfg.sweep.dir)).name}"


def target_name(target: str) -> str:
    """``a.b.Name`` -> ``Name``."""
    return str(target).rsplit(".", 1)[-1]


def launch_dir() -> str:
    """Hydra's ``runtime.cwd`` once Hydra has set its config, the process's cwd before that."""
    if HydraConfig.initialized():
        return str(HydraConfig.get().runtime.cwd)
    return os.getcwd()


def optuna_sqlite(path: str) -> str:
    """``sqlite:///<absolute path>``; creates the folder (sqlite does not, Optuna neither)."""
    file = Path(path).expanduser().resolve()
    file.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{file}"


def optuna_trials_left(storage: str, study_name: str, total: int) -> int:
    """``total`` less the trials the stored study already completed (or pruned)."""
    import optuna  # optional dependency, with hydra-optuna-sweeper

    names = {summary.study_name for summary in optuna.get_all_study_summaries(storage)}
    if study_name not in names:
        return total
    study = optuna.load_study(study_name=study_name, storage=storage)
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return max(total - len(study.get_trials(deepcopy=False, states=states)), 0)


RESOLVERS = {
    "sweep_group": sweep_group,
    "launch_dir": launch_dir,
    "target_name": target_name,
    "run_dir": run_dir,
    "rank_zero_only": rank_zero_only,
    "wandb_run_id": wandb_run_id,
    "optuna_sqlite": optuna_sqlite,
    "optuna_trials_left": optuna_trials_left,
}


def register() -> None:
    """Register the resolvers once (calling again is harmless)."""
    for name, resolver in RESOLVERS.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
