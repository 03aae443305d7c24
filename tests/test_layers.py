"""The package's layout is its architecture: imports point down the layers, never back or in a cycle.

Every ``import`` of every module under ``src/attnseg`` (those inside functions too) is read with
``ast``; the layers and their order are the ones ``src/attnseg/__init__.py`` documents.
"""

from __future__ import annotations

import ast
import importlib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.conftest import ROOT

SRC = ROOT / "src"
PACKAGE = SRC / "attnseg"
# a layer may import from the layers of lower rank, and from itself; layers of equal rank are peers
LAYERS = {
    "config": 0,
    "data": 1,
    "models": 1,
    "viz": 2,
    "training": 3,
    "inference": 4,
    "tasks": 5,
    "tools": 5,
}
# modules of a command layer that the commands share (not commands themselves)
SHARED = {"attnseg.tasks.hydra_app"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {
        module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "conf" not in p.relative_to(PACKAGE).parts
    }


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The attnseg modules that ``path`` imports (``from a import b`` counts ``a.b`` if it is a module)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m == "attnseg" or m.startswith("attnseg.")}


def graph() -> dict[str, set[str]]:
    known = set(modules())
    return {name: imported(path, name, known) for name, path in modules().items()}


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def scripts() -> dict[str, str]:
    """The installed console scripts (``[project.scripts]``): name -> ``module:function``."""
    return {
        ep.name: ep.value for ep in entry_points(group="console_scripts") if ep.name.startswith("attnseg-")
    }


def commands() -> set[str]:
    return {target.split(":")[0] for target in scripts().values()}


def test_top_level_holds_only_the_layers() -> None:
    top = {p.name for p in PACKAGE.iterdir() if not p.name.startswith((".", "__pycache__"))}
    assert top == {"__init__.py", "conf", *LAYERS}, sorted(top - {"__init__.py", "conf", *LAYERS})
    documented = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text()))
    assert all(f"``{name}``" in documented for name in LAYERS), "attnseg/__init__.py documents every layer"


def test_imports_point_down_the_layers() -> None:
    back_edges = [
        f"{source} -> {target}"
        for source, targets in graph().items()
        for target in targets
        if layer(source)
        and layer(target)
        and layer(source) != layer(target)
        and LAYERS[layer(target)] >= LAYERS[layer(source)]
    ]
    assert not back_edges, "imports that point up or sideways:\n" + "\n".join(back_edges)


def test_no_import_cycle() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target] if target in path else [node, target]
            if target not in state and (cycle := visit(target, [*path, target])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start, [start])):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_no_command_imports_another_module_of_its_layer_except_shared_plumbing() -> None:
    entry_points = commands()
    assert entry_points, "the package is installed with its console scripts"
    offenders = [
        f"{source} -> {target}"
        for source, targets in graph().items()
        for target in targets
        if target in entry_points and target != source
    ]
    offenders += [
        f"{source} -> {target}"
        for source, targets in graph().items()
        if layer(source) == "tasks"
        for target in targets
        if layer(target) == "tasks" and target not in SHARED | {"attnseg.tasks"} and target != source
    ]
    assert not offenders, "a command imported by another module:\n" + "\n".join(offenders)


def test_every_command_is_a_console_script_that_resolves() -> None:
    assert len(scripts()) >= 9, "reinstall the package (pip install -e .) to register the commands"
    for name, target in scripts().items():
        module, function = target.split(":")
        assert layer(module) in {"tasks", "tools"}, f"{name}: commands live in tasks/ or tools/"
        assert callable(getattr(importlib.import_module(module), function)), target
