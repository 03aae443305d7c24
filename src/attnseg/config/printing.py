"""Pretty printing of the composed config and of the final metrics."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import rich
import rich.syntax
import rich.table
import rich.tree
from omegaconf import DictConfig, OmegaConf

FIELD_ORDER = ("dataset", "backbone", "head", "model", "loss", "optimizer", "scheduler", "trainer", "logger")


def print_config_tree(cfg: DictConfig, save_to: Path | None = None) -> None:
    """Print the resolved config as a tree (main groups first) and save it as YAML in the run dir."""
    tree = rich.tree.Tree("CONFIG", style="dim", guide_style="dim")
    keys = [k for k in FIELD_ORDER if k in cfg] + [k for k in cfg if k not in FIELD_ORDER]
    for key in keys:
        branch = tree.add(str(key), style="bold", guide_style="dim")
        value = cfg[key]
        text = OmegaConf.to_yaml(value, resolve=True) if isinstance(value, DictConfig) else str(value)
        branch.add(rich.syntax.Syntax(text, "yaml"))
    rich.print(tree)
    if save_to is not None:
        save_to.parent.mkdir(parents=True, exist_ok=True)
        save_to.write_text(OmegaConf.to_yaml(cfg, resolve=True))


def print_metrics_table(metrics: Mapping[str, float], title: str = "Final metrics") -> None:
    table = rich.table.Table(title=title)
    table.add_column("metric", style="cyan")
    table.add_column("value", justify="right")
    for key in sorted(metrics):
        table.add_row(key, f"{metrics[key]:.4f}")
    rich.print(table)
