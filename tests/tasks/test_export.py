"""export(cfg): the ONNX file gives onnxruntime outputs equal to PyTorch's, at any batch size.
The ONNX helpers, on every head: tests/inference/test_onnx.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from attnseg.inference.checkpoint import build_model, load_checkpoint, merge_run_config
from attnseg.tasks.export import export
from tests.checkpoints import train_tiny
from tests.conftest import compose_config


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(tmp_path_factory)


def test_export_writes_a_dynamic_batch_model_equal_to_pytorch(tiny_ckpt: Path, tmp_path: Path) -> None:
    # the legacy exporter keeps this test at seconds; the default (dynamo) one: tests/inference/test_onnx.py
    overrides = [f"ckpt_path={tiny_ckpt}", "image_size=[64,64]", "dynamo=false"]
    cfg = compose_config(overrides, tmp_path, config_name="export")
    path = export(cfg)  # verify=true: already compared on a batch of 2
    assert path == tmp_path / "model.onnx" and path.is_file()
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["images"] and [o.name for o in graph.output] == ["logits"]
    # a batch size the graph was not traced with
    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"images": images.numpy()})
    checkpoint = load_checkpoint(tiny_ckpt)
    model = build_model(merge_run_config(cfg, checkpoint), checkpoint, tiny_ckpt)
    with torch.inference_mode():
        expected = model(images).numpy()
    assert logits.shape == (3, 6, 64, 64)
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)
