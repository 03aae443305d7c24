"""smp decoder heads: each trains through the real pipeline, fits a fixed batch, refuses bad strides."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from attnseg.models.heads import DeepLabV3Head, DeepLabV3PlusHead
from attnseg.tasks.train import train

HEADS = ["deeplabv3", "deeplabv3plus", "pspnet", "fpn", "upernet"]
# narrow decoders keep the CPU tests fast; the default widths are built by tests/test_configs.py
NARROW = {
    "deeplabv3": ["head.channels=32"],
    "deeplabv3plus": ["head.channels=32"],
    "pspnet": ["head.channels=32"],
    "fpn": ["head.pyramid_channels=32", "head.segmentation_channels=32"],
    "upernet": ["head.channels=32"],
}


@pytest.fixture(autouse=True)
def _single_thread():
    # tiny tensors: a second intra-op thread only adds sync overhead, and stalls badly on a busy CPU
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("head", HEADS)
def test_head_trains_a_few_steps_on_the_bundled_dataset(make_cfg, head: str) -> None:
    metrics = train(make_cfg(f"head={head}", *NARROW[head], "logger=none", "test=false"))
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))
    assert 0.0 <= metrics["val/miou"] <= 1.0


@pytest.mark.parametrize("head", HEADS)
def test_head_fits_a_fixed_batch(make_cfg, head: str) -> None:
    cfg = make_cfg(f"head={head}", *NARROW[head])
    torch.manual_seed(0)
    net = instantiate(cfg.model.net).train()
    criterion = instantiate(cfg.model.loss)
    dataset = instantiate(cfg.dataset.train)
    images, masks = (torch.stack(items) for items in zip(*(dataset[i] for i in range(2)), strict=True))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(10):
        outputs = net(images)
        loss = criterion(outputs["out"], masks) + 0.4 * criterion(outputs["aux"], masks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert outputs["out"].shape == (2, 6, 64, 64)
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.mark.parametrize(
    ("head", "output_stride", "message"),
    [
        ("deeplabv3", 32, r"DeepLabV3Head \(head=deeplabv3\) needs backbone.output_stride=8 or 16, got 32"),
        ("deeplabv3plus", 32, r"\(head=deeplabv3plus\) needs backbone.output_stride=8 or 16, got 32"),
        ("fpn", 8, r"FPNHead \(head=fpn\) needs backbone.output_stride=32, got 8"),
        ("fpn", 16, r"FPNHead \(head=fpn\) needs backbone.output_stride=32, got 16"),
    ],
)
def test_unsupported_output_stride_is_refused_at_start(
    make_cfg, tmp_path: Path, head: str, output_stride: int, message: str
) -> None:
    cfg = make_cfg(f"head={head}", f"backbone.output_stride={output_stride}", "logger=csv")
    with pytest.raises(InstantiationException, match=message):
        train(cfg)
    assert not (tmp_path / "checkpoints").exists()
    assert not (tmp_path / "csv").exists()


def test_fpn_option_runs_on_the_undilated_backbone(make_cfg) -> None:
    assert make_cfg("head=fpn").backbone.output_stride == 32


@pytest.mark.parametrize(("head", "stride"), [("deeplabv3plus", 4), ("upernet", 4), ("pspnet", 16)])
def test_head_works_at_output_stride_16(make_cfg, head: str, stride: int) -> None:
    net = instantiate(make_cfg(f"head={head}", *NARROW[head], "backbone.output_stride=16").model.net).eval()
    with torch.no_grad():
        features = net.backbone(torch.rand(1, 3, 64, 64))
        logits = net.head(net.head_input(features))
    assert logits.shape[-2:] == (64 // stride, 64 // stride)


def test_too_few_stages_and_bad_rates_are_refused() -> None:
    with pytest.raises(ValueError, match=r"needs a backbone with at least 4 stages \(C2..C5\), got 3"):
        DeepLabV3PlusHead([16, 24, 32], 6)
    with pytest.raises(ValueError, match=r"head.atrous_rates needs 3 dilation rates, got \[6, 12\]"):
        DeepLabV3Head(32, 6, atrous_rates=[6, 12])
