"""Cross-entropy with OHEM honours ignore_index and keeps the hardest pixels."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from attnseg.losses import CrossEntropyLoss


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
