"""Attention heads: the head contract, a few training steps, and the real training pipeline."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from attnseg.models.heads import CCHead, DANetHead, NonLocalHead, SelfAttentionHead
from attnseg.tasks.train import train

HEADS = {"self_attn": SelfAttentionHead, "nonlocal": NonLocalHead, "danet": DANetHead, "ccnet": CCHead}
EXTRA_OUTPUTS = {"danet": {"pam", "cam"}}


@pytest.mark.parametrize("name", HEADS)
def test_head_contract(name: str) -> None:
    head = HEADS[name](64, 5)
    x = torch.randn(2, 64, 9, 11)
    out = head.train()(x)
    if name in EXTRA_OUTPUTS:
        assert set(out) == {"out"} | EXTRA_OUTPUTS[name]
        assert all(v.shape == (2, 5, 9, 11) for v in out.values())
    else:
        assert out.shape == (2, 5, 9, 11)
    assert head.eval()(x).shape == (2, 5, 9, 11)  # eval: the logits tensor only


@pytest.mark.parametrize("name", HEADS)
def test_inner_channels_default_to_a_quarter_and_are_configurable(name: str) -> None:
    def widths(head: torch.nn.Module) -> set[int]:
        return {m.in_channels for n, m in head.named_modules() if "classifier" in n}

    assert widths(HEADS[name](2048, 19)) == {512}
    assert widths(HEADS[name](2048, 19, channels=256)) == {256}


@pytest.mark.parametrize("name", HEADS)
def test_head_loss_decreases_on_a_fixed_batch(name: str) -> None:
    torch.manual_seed(0)
    head = HEADS[name](32, 3, channels=16)
    x = torch.randn(2, 32, 8, 8)
    target = (torch.arange(64).view(8, 8) % 3).expand(2, 8, 8)  # needs context: stripes by column
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        out = head.train()(x)
        outs = out.values() if isinstance(out, dict) else [out]
        loss = sum(F.cross_entropy(o, target) for o in outs)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    # gradients reach the attention's residual gate, which starts at 0
    gammas = [p for n, p in head.named_parameters() if n.endswith("gamma")]
    assert all(g.abs().item() > 0 for g in gammas), name


def test_cc_head_shares_one_attention_across_recurrences() -> None:
    head = CCHead(32, 3, channels=16, recurrence=3)
    assert sum(1 for m in head.modules() if type(m).__name__ == "CrissCrossAttention") == 1
    with pytest.raises(ValueError, match="recurrence"):
        CCHead(32, 3, recurrence=0)


@pytest.mark.parametrize("name", HEADS)
def test_head_config_builds_the_head(make_cfg, name: str) -> None:
    model = instantiate(make_cfg(f"head={name}").model)
    assert isinstance(model.net.head, HEADS[name])


@pytest.mark.parametrize("name", HEADS)
def test_head_trains_through_the_pipeline(make_cfg, name: str) -> None:
    metrics = train(make_cfg(f"head={name}", "logger=none"))
    assert 0.0 <= float(metrics["test/miou"]) <= 1.0
    for extra in EXTRA_OUTPUTS.get(name, ()):
        assert f"train/loss_{extra}" in metrics, sorted(metrics)
