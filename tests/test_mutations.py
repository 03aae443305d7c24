"""The suite catches planted bugs (``tests/mutation_check.py``): attention, losses, metrics, labels."""

from __future__ import annotations

import pytest

from tests import mutation_check


@pytest.mark.slow
@pytest.mark.parametrize("mutation", mutation_check.MUTATIONS, ids=lambda m: m.name)
def test_planted_bug_is_caught(mutation: mutation_check.Mutation) -> None:
    assert mutation_check.run(mutation) == "caught", f"{mutation.name} survived {mutation.tests}"
