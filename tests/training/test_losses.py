"""Every loss option honours ignore_index and trains; OHEM keeps the hardest pixels."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from attnseg.training.losses import CrossEntropyLoss, WeightedSum
from tests.conftest import CONF, compose_config

pytestmark = pytest.mark.usefixtures("single_thread")


def test_plain_ce_matches_torch_and_ignores_255() -> None:
    logits, target = torch.randn(2, 4, 8, 8), torch.randint(0, 4, (2, 8, 8))
    target[0, :4] = 255
    expected = F.cross_entropy(logits, target, ignore_index=255)
    assert torch.allclose(CrossEntropyLoss()(logits, target), expected)


def test_ohem_keeps_pixels_below_threshold_but_at_least_min_kept() -> None:
    torch.manual_seed(0)
    logits, target = torch.randn(1, 3, 10, 10), torch.randint(0, 3, (1, 10, 10))
    target[0, 0] = 255
    pixel = F.cross_entropy(logits, target, ignore_index=255, reduction="none")[target != 255]
    prob = torch.exp(-pixel)
    # threshold dominates: only pixels with p(true) <= 0.3
    loss = CrossEntropyLoss(ohem_thresh=0.3, min_kept=5)(logits, target)
    assert torch.allclose(loss, pixel[prob <= 0.3].mean())
    # min_kept dominates: the 60 hardest pixels
    loss = CrossEntropyLoss(ohem_thresh=0.01, min_kept=60)(logits, target)
    assert torch.allclose(loss, pixel.sort(descending=True).values[:60].mean())
    # more min_kept than valid pixels: plain CE over the valid ones
    loss = CrossEntropyLoss(ohem_thresh=0.01, min_kept=1000)(logits, target)
    assert torch.allclose(loss, pixel.mean())


# Every loss option, plus the settings that change which pixels count (class weights, real OHEM).
LOSSES = [(p.stem, ()) for p in sorted((CONF / "loss").glob("*.yaml"))]
LOSSES += [("ce", ("loss.class_weights=[0.5,1,2,1,1,3]",)), ("ohem", ("loss.min_kept=50",))]
LOSS_IDS = [" ".join((name, *extra)) for name, extra in LOSSES]


@functools.cache
def _loss_config(name: str, extra: tuple[str, ...]) -> dict:
    # composed once per option: the tests below only need the resolved loss node
    cfg = compose_config([f"loss={name}", *extra], Path(tempfile.gettempdir()))
    return OmegaConf.to_container(cfg.loss, resolve=True)


def _criterion(name: str, extra: tuple[str, ...]) -> nn.Module:
    return instantiate(_loss_config(name, extra))


@pytest.mark.parametrize(("name", "extra"), LOSSES, ids=LOSS_IDS)
def test_loss_ignores_the_ignore_index(name: str, extra: tuple[str, ...]) -> None:
    criterion = _criterion(name, extra)
    torch.manual_seed(0)
    logits, target = torch.randn(2, 6, 12, 12, requires_grad=True), torch.randint(0, 6, (2, 12, 12))
    target[..., 7:] = 255  # right columns unlabelled
    full = criterion(logits, target)
    # same value as with the ignored columns cut away
    kept = criterion(logits[..., :7].contiguous(), target[..., :7].contiguous())
    assert torch.allclose(full, kept, atol=1e-6), (full, kept)
    # confidently wrong predictions under the ignored pixels change nothing, and get no gradient
    wrong = logits.detach().clone()
    wrong[..., 7:] = 50.0 * torch.randn_like(wrong[..., 7:])
    assert torch.allclose(criterion(wrong, target), full, atol=1e-6)
    full.backward()
    assert logits.grad[..., 7:].abs().max() == 0
    assert logits.grad[..., :7].abs().max() > 0


@pytest.mark.parametrize(("name", "extra"), LOSSES, ids=LOSS_IDS)
def test_loss_decreases_on_a_fixed_batch(name: str, extra: tuple[str, ...]) -> None:
    criterion = _criterion(name, extra)
    torch.manual_seed(0)
    images, target = torch.randn(2, 3, 16, 16), torch.randint(0, 6, (2, 16, 16))
    target[:, :3] = 255
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 6, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(25):
        loss = criterion(model(images), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def test_weighted_sum_adds_the_weighted_terms() -> None:
    criterion = _criterion("ce_dice", ("loss.weights.dice=2.0",))
    logits, target = torch.randn(2, 6, 8, 8), torch.randint(0, 6, (2, 8, 8))
    ce, dice = criterion.losses["ce"], criterion.losses["dice"]
    expected = ce(logits, target) + 2.0 * dice(logits, target)
    assert torch.allclose(criterion(logits, target), expected)


def test_weighted_sum_needs_one_weight_per_loss() -> None:
    with pytest.raises(ValueError, match=r"loss.weights must have one entry per loss"):
        WeightedSum({"ce": CrossEntropyLoss()}, {"dice": 1.0})


def test_model_applies_the_configured_loss_to_every_output(make_cfg) -> None:
    model = instantiate(make_cfg("loss=ce_dice").model)
    assert isinstance(model.criterion, WeightedSum)  # the module applies it to out, aux, ...
