"""How every command that takes a config starts: ``main = hydra_app("<config>", task)``.

``main()`` composes ``conf/<config>.yaml`` (from the installed package, so it runs from a checkout
and from a wheel alike) with the command line, as ``hydra.main`` does (``--help``, ``-m`` sweeps,
``--cfg job``), and calls ``task(cfg)``; what it returns is what an optimising sweeper maximises.
This module is shared plumbing of the commands, not a command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from attnseg.config import resolvers
from attnseg.config.compose import conf_dir
from attnseg.inference.checkpoint import merge_run_config


def hydra_app(config_name: str, task: Callable[[DictConfig], Any]) -> Callable[[], Any]:
    """The console-script entry point that runs ``task`` on ``conf/<config_name>.yaml``."""

    def main() -> Any:
        resolvers.register()
        decorate = hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name=config_name)
        return decorate(task)()

    main.__doc__ = task.__doc__
    return main


def merge_with_checkpoint(cfg: DictConfig, checkpoint: dict[str, Any]) -> DictConfig:
    """The checkpoint's run config under this command's: the groups picked for this command
    (``dataset=other``, its own ``logger`` and ``paths``) replace the trained ones wholesale."""
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    return merge_run_config(cfg, checkpoint, replace={k for k, v in choices.items() if v is not None})
