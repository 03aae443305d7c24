"""Where ``conf/`` is, and composing it outside a Hydra app (tools, tests) the way a command does.

``conf/`` sits at the repository root and is installed as the package ``attnseg.conf``
(``pyproject.toml`` maps one onto the other), so the commands find their configs from a source
checkout, an editable install and a wheel alike.
"""

from __future__ import annotations

import importlib.resources
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from attnseg.config import resolvers


def conf_dir() -> Path:
    """The config folder: the installed ``attnseg.conf`` package (the repository's ``conf/``)."""
    return Path(str(importlib.resources.files("attnseg.conf")))


def compose(
    config_name: str = "train",
    overrides: Sequence[str] = (),
    *,
    output_dir: str | Path | None = None,
    cwd: str | Path | None = None,
) -> DictConfig:
    """``conf/<config_name>.yaml`` with ``overrides``, as ``hydra.main`` would hand it to a command.

    Hydra's runtime fields are filled in (the run directory is ``output_dir``, a new temporary
    folder if ``None``; the launch directory is ``cwd``, the process's if ``None``) and Hydra's
    config is set, so that ``${hydra:...}`` and ``${paths...}`` interpolations resolve; the
    returned config has no ``hydra`` key, like the one a command receives.
    """
    resolvers.register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = hydra_compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir or tempfile.mkdtemp(prefix=f"attnseg-{config_name}-"))
        cfg.hydra.runtime.cwd = str(cwd or os.getcwd())
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg.hydra
    return cfg
