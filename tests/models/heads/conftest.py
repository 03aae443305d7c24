"""Heads run tiny tensors on one intra-op thread (see ``single_thread`` in tests/conftest.py)."""

import pytest

pytestmark = pytest.mark.usefixtures("single_thread")
