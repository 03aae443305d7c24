"""No head can skip the contract: every conf/head option has a collected HeadContract tester."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from tests.conftest import CONF
from tests.models.heads.contract import HeadContract


def contract_testers() -> list[type[HeadContract]]:
    """Every HeadContract subclass in this folder's test modules, at any depth of inheritance."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name.startswith("test_"):
            importlib.import_module(f"{__package__}.{module.name}")
    found, todo = [], [HeadContract]
    while todo:
        found += (subclasses := todo.pop().__subclasses__())
        todo += subclasses
    return found


def test_every_head_option_has_a_contract_tester_that_pytest_collects() -> None:
    classes = contract_testers()
    # pytest collects only Test* classes of test_*.py modules; a tester elsewhere would never run
    hidden = [c.__qualname__ for c in classes if not c.__name__.startswith("Test")]
    hidden += [c.__qualname__ for c in classes if not c.__module__.rpartition(".")[2].startswith("test_")]
    assert not hidden, f"HeadContract subclasses pytest does not collect: {hidden}"
    tested = {c.option for c in classes if hasattr(c, "option")}
    options = {p.stem for p in (CONF / "head").glob("*.yaml")}
    assert options - tested == set(), "conf/head options without a HeadContract tester in tests/models/heads/"
    assert tested - options == set(), "testers of options that conf/head/ no longer has"
