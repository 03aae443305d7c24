"""What the LightningModule optimises and measures, as the composed config builds it: the weighted
sum of the output losses, the ignore label in the metrics, the poly learning-rate schedule."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from attnseg.training.module import SegmentationModule


def _module(make_cfg, *overrides: str) -> SegmentationModule:
    return instantiate(make_cfg("head=fcn", *overrides).model)


def test_total_loss_weights_the_auxiliary_output_as_configured(make_cfg) -> None:
    torch.manual_seed(0)
    target = torch.randint(0, 6, (2, 16, 16))
    target[:, :4] = 255  # ignored pixels take no part
    outputs = {"out": torch.randn(2, 6, 16, 16), "aux": torch.randn(2, 6, 16, 16)}
    ce = {k: F.cross_entropy(v, target, ignore_index=255) for k, v in outputs.items()}
    for weight in (0.4, 0.25):  # 0.4: the papers' default
        module = _module(make_cfg, f"model.loss_weights.aux={weight}")
        total, parts = module.compute_loss(outputs, target)
        torch.testing.assert_close(parts["aux"], ce["aux"])
        torch.testing.assert_close(total, ce["out"] + weight * ce["aux"])


def test_metrics_leave_out_the_ignore_label(make_cfg) -> None:
    module = _module(make_cfg)
    target = torch.tensor([[[0, 1, 255, 255]]])
    preds = torch.tensor([[[0, 1, 2, 3]]])  # wrong only where the label is ignored
    module.val_metrics.update(preds, target)
    results = module.val_metrics.compute()
    assert results["val/acc"].item() == 1.0
    assert results["val/miou"].item() == 1.0  # classes 2 and 3 were never seen on labelled pixels


def test_poly_schedule_has_the_papers_power(make_cfg) -> None:
    module = _module(make_cfg, "optimizer=sgd", "optimizer.lr=0.01")
    optimizer = module.build_optimizer()
    scheduler = instantiate(make_cfg("head=fcn").scheduler)(optimizer=optimizer, total_iters=100)
    lrs = []
    for _ in range(50):
        optimizer.step()
        scheduler.step()
        lrs.append([g["lr"] for g in optimizer.param_groups])
    # lr = base * (1 - t / T) ** 0.9 (PSPNet / DeepLab / CCNet / DANet), heads at 10x the backbone
    assert lrs[-1] == pytest.approx([0.01 * 0.5**0.9, 0.1 * 0.5**0.9], rel=1e-6)
    assert lrs[9] == pytest.approx([0.01 * 0.9**0.9, 0.1 * 0.9**0.9], rel=1e-6)
