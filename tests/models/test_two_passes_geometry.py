"""The two-passes diagnostic's geometry, proved on the models' gradients: in a diagonal scene no
crate pixel's prediction depends on the beacon under FCN or one criss-cross pass; it does after two
passes and under full attention (what experiment=diag_two_passes then measures by training)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from attnseg.data.synthetic import CLASS_NAMES
from tests.conftest import compose_config

BEACON, CRATES = CLASS_NAMES.index("beacon"), [CLASS_NAMES.index(n) for n in ("crate_red", "crate_blue")]


def beacon_influence(head: str, tmp_path: Path) -> list[float]:
    """Per val scene: the largest |d out(crate pixels) / d beacon pixel| of the preset's model."""
    cfg = compose_config(["experiment=diag_two_passes", f"head={head}"], tmp_path)
    torch.manual_seed(0)
    net = instantiate(cfg.model.net).eval()
    # zero-initialised residual scales (gamma) and norm weights would hide every path
    for name, p in net.named_parameters():
        if name.endswith("gamma"):
            torch.nn.init.ones_(p)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(m.weight)
    dataset = instantiate(cfg.dataset.val)
    influence = []
    for i in range(3):
        image, mask = dataset[i]
        x = image[None].clone().requires_grad_(True)  # (1, 3, 240, 240)
        crates = torch.isin(mask, torch.tensor(CRATES))
        net(x)["out"][0][:, crates].sum().backward()
        influence.append(x.grad[0][:, mask == BEACON].abs().max().item())
    return influence


@pytest.mark.parametrize("head", ["fcn", "ccnet_r1"])
def test_fcn_and_one_criss_cross_pass_cannot_see_the_beacon_from_any_crate(head: str, tmp_path: Path) -> None:
    assert beacon_influence(head, tmp_path) == [0.0, 0.0, 0.0]


@pytest.mark.slow  # three more models at 240 x 240: make test-slow (the one-pass half stays fast)
@pytest.mark.parametrize("head", ["ccnet", "nonlocal", "self_attn"])
def test_two_passes_and_full_attention_reach_it(head: str, tmp_path: Path) -> None:
    assert all(v > 0 for v in beacon_influence(head, tmp_path))
