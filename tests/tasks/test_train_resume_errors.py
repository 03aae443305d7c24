"""``attnseg-train ckpt_path=...``: a checkpoint that cannot continue this run is refused before
anything is built, with the file, the cause and (for another model) the keys that differ."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnseg.tasks.train import train
from tests.checkpoints import train_tiny


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory)  # head=fcn, the synthetic dataset's 6 classes


def test_missing_checkpoint_is_named(make_cfg, tmp_path: Path) -> None:
    missing = tmp_path / "nope.ckpt"
    with pytest.raises(FileNotFoundError, match=rf"ckpt_path: no such file '{missing}'"):
        train(make_cfg(f"ckpt_path={missing}", "logger=none"))


@pytest.mark.parametrize(
    "content", [b"", b"\x00garbage" * 100, b"PK\x03\x04truncated zip"], ids=["empty", "random", "zip"]
)
def test_unreadable_checkpoint_is_named_without_unsafe_advice(
    make_cfg, tmp_path: Path, content: bytes
) -> None:
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match=r"is not a readable PyTorch checkpoint") as error:
        train(make_cfg(f"ckpt_path={bad}", "logger=none"))
    assert str(bad) in str(error.value) and "weights_only" not in str(error.value)


def test_checkpoint_of_another_model_lists_the_keys_that_differ(make_cfg, tiny_ckpt: Path) -> None:
    cfg = make_cfg(f"ckpt_path={tiny_ckpt}", "head=ccnet", "dataset.num_classes=7", "logger=none")
    with pytest.raises(ValueError, match="was written by a run with another model") as error:
        train(cfg)
    message = str(error.value)
    assert (
        "model.net.head._target_: checkpoint 'attnseg.models.heads.FCNHead', this run 'attnseg.models.heads.CCHead'"
        in message
    )
    assert "dataset.num_classes: checkpoint 6, this run 7" in message
    assert not (Path(cfg.paths.output_dir) / "config.yaml").exists(), "refused before the run started"
