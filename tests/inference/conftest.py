from __future__ import annotations

from pathlib import Path

import pytest

from tests.checkpoints import train_tiny


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory)
