"""ONNX helpers: a mismatch with onnxruntime is reported; every head exports and matches PyTorch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from attnseg.inference.checkpoint import build_model, load_checkpoint, run_config
from attnseg.inference.onnx import LogitsOnly, compare_with_onnxruntime, export_onnx
from tests.conftest import compose_config

# the repo's own heads; the smp decoders (deeplabv3, deeplabv3plus, fpn, pspnet, upernet) were checked
# the same way by hand (docs/evaluation.md): each torch.export run costs 10-30 s of CPU
HEADS = ["fcn", "ccnet", "danet", "nonlocal", "self_attn"]


def test_mismatch_with_onnxruntime_is_reported(tiny_ckpt: Path, tmp_path: Path) -> None:
    checkpoint = load_checkpoint(tiny_ckpt)
    net = LogitsOnly(build_model(run_config(checkpoint), checkpoint, tiny_ckpt).net)
    path = export_onnx(net, tmp_path / "m.onnx", image_size=(32, 32), dynamo=False)  # the fast exporter
    with torch.no_grad():
        net.net.head.classifier.bias += 1.0  # PyTorch now differs from the exported graph
    with pytest.raises(ValueError, match=r"m\.onnx: onnxruntime output differs from PyTorch's by 1 > atol"):
        compare_with_onnxruntime(net, path, torch.rand(1, 3, 32, 32), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("head", HEADS)
def test_every_head_exports_and_matches(head: str, tmp_path: Path) -> None:
    cfg = compose_config(["backbone=test_resnet", f"head={head}"], tmp_path)
    net = LogitsOnly(instantiate(cfg.model).net).eval()
    with torch.no_grad():  # switch on the zero-initialised attention branches (gamma, Non-local's last BN)
        for param in net.parameters():
            if not param.any():
                param.fill_(0.5)
    path = export_onnx(net, tmp_path / f"{head}.onnx", image_size=(64, 64))
    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert compare_with_onnxruntime(net, path, images, atol=1e-4) <= 1e-4
