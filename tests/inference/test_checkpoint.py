"""Reading a checkpoint back: errors that name the file, the run config under a command's config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from attnseg.inference.checkpoint import build_model, load_checkpoint, merge_run_config, run_config
from attnseg.training.module import RUN_CONFIG_KEY


def test_missing_checkpoint_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"ckpt_path: no such file '.*nope\.ckpt'; expected a checkpoint"
    ):
        load_checkpoint(tmp_path / "nope.ckpt")


def test_corrupt_checkpoint_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match=r"ckpt_path: '.*bad\.ckpt' is not a readable PyTorch checkpoint"):
        load_checkpoint(bad)
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(ValueError, match=r"'.*other\.ckpt' has no 'state_dict' and 'attnseg_config' entries"):
        load_checkpoint(other)


def test_weights_that_do_not_fit_the_config_are_named(tiny_ckpt: Path) -> None:
    checkpoint = load_checkpoint(tiny_ckpt)
    del checkpoint["state_dict"]["net.head.classifier.bias"]
    message = (
        r"(?s)the weights in '.*last\.ckpt' do not fit the model .*Missing key.*net\.head\.classifier\.bias"
    )
    with pytest.raises(ValueError, match=message):
        build_model(run_config(checkpoint), checkpoint, tiny_ckpt)


def test_command_config_merges_into_the_run_config_or_replaces_a_picked_group() -> None:
    trained = {"dataset": {"num_classes": 6, "val_batch_size": 4}, "model": {"num_classes": 6}, "seed": 1}
    checkpoint = {RUN_CONFIG_KEY: trained, "state_dict": {}}
    command = OmegaConf.create({"dataset": {"val_batch_size": 1}, "seed": 2, "split": "val"})
    merged = merge_run_config(command, checkpoint)
    assert OmegaConf.to_container(merged) == {
        "dataset": {"num_classes": 6, "val_batch_size": 1},  # a mapping: only its own keys change
        "model": {"num_classes": 6},
        "seed": 2,
        "split": "val",
    }
    # a group picked on the command line (dataset=other) replaces the trained one wholesale
    assert OmegaConf.to_container(merge_run_config(command, checkpoint, replace={"dataset"}).dataset) == {
        "val_batch_size": 1
    }
