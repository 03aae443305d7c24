"""Start-up: importing a command loads only what every run of it needs.

A backbone (timm, which imports wandb), the segmentation-models-pytorch heads, ONNX and the
explorer page are imported where they are used, so ``import attnseg.tasks.<command>`` (what
``--help``, a failing config and every run pay before any work) stays without them. The commands
are imported one after another in one fresh interpreter; a heavy module is blamed on the first
command whose import loads it, with the attnseg lines of the import chain that loaded it.

Not checked: what ``import lightning`` loads itself (torchmetrics, and through it torchvision,
``torch._dynamo``, scipy.signal and matplotlib), which every command here pays once it builds a
LightningModule.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import hydra.utils
import pytest
import yaml

from tests.conftest import CONF, ROOT

# imported by no command until a run needs it
HEAVY = (
    "timm",
    "wandb",
    "huggingface_hub",
    "segmentation_models_pytorch",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "pandas",
    "optuna",
    "tensorboard",
    "mlflow",
)
# report first: it reads run folders (a model's cost aside), so Lightning and Hydra stay out of it
COMMANDS = [
    "attnseg.tools.report",
    "attnseg.tasks.train",
    "attnseg.tasks.evaluate",
    "attnseg.tasks.predict",
    "attnseg.tasks.export",
    "attnseg.tasks.attention_maps",
    "attnseg.tasks.explore",
]
NOT_LOADED_BY = {
    "attnseg.tools.report": ("lightning", "hydra"),
    **{command: ("attnseg.viz.explorer",) for command in COMMANDS if command != "attnseg.tasks.explore"},
}

# runs in the fresh interpreter: per command, the modules its import added, and who imported each watched one
PROBE = """
import importlib, json, sys, traceback
watched, chains = set(json.loads(sys.argv[1])), {}

class Blame:
    def find_spec(self, name, path=None, target=None):
        if name in watched and name not in chains:
            chains[name] = [f"{f.filename.split('/src/')[-1]}:{f.lineno}" for f in traceback.extract_stack()
                            if "/attnseg/" in f.filename]
        return None

sys.meta_path.insert(0, Blame())
added = {}
for command in json.loads(sys.argv[2]):
    before = set(sys.modules)
    importlib.import_module(command)
    added[command] = sorted(set(sys.modules) - before)
print(json.dumps({"added": added, "chains": chains}))
"""


@pytest.fixture(scope="module")
def imports() -> dict:
    watched = sorted({*HEAVY, *(m for mods in NOT_LOADED_BY.values() for m in mods)})
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(watched), json.dumps(COMMANDS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("command", COMMANDS)
def test_importing_a_command_loads_no_heavy_module(imports: dict, command: str) -> None:
    added = set(imports["added"][command])
    loaded = sorted(m for m in (*HEAVY, *NOT_LOADED_BY.get(command, ())) if m in added)
    blame = "\n".join(f"  {m}: " + " <- ".join(reversed(imports["chains"].get(m, []))) for m in loaded)
    assert not loaded, f"import {command} loads {loaded}; import them where they are used:\n{blame}"


def conf_targets() -> list[str]:
    found = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            target = node.get("_target_")
            if isinstance(target, str) and target.startswith("attnseg."):
                found.add(target)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(Path(CONF).rglob("*.yaml")):
        walk(yaml.safe_load(path.read_text()))
    return sorted(found)


@pytest.mark.parametrize("target", conf_targets())
def test_every_conf_target_resolves(target: str) -> None:
    assert callable(hydra.utils.get_object(target)), target


@pytest.mark.parametrize(
    "package", ["attnseg.data", "attnseg.inference", "attnseg.models", "attnseg.models.heads"]
)
def test_lazy_names_resolve_and_are_listed(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        assert value.__name__ == name and value.__module__.startswith(package), f"{package}.{name}"
        assert name in dir(module)
    with pytest.raises(AttributeError, match="no attribute 'Missing'"):
        module.Missing  # noqa: B018
