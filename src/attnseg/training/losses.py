"""Segmentation losses that honour ``ignore_index``.

Cross-entropy (with class weights and OHEM) lives here; Dice, Focal and Lovasz come straight from
``segmentation_models_pytorch.losses`` (``mode="multiclass"``, see ``conf/loss/``), and
:class:`WeightedSum` combines any of them, e.g. CE + 0.5 Dice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class CrossEntropyLoss(nn.Module):
    """Pixel-wise cross-entropy with optional class weights and online hard example mining.

    OHEM as in the CCNet / PSPNet code: only pixels whose predicted probability of the true
    class is below ``ohem_thresh`` contribute, but at least the ``min_kept`` hardest pixels of
    the batch are always kept.

    Args:
        ignore_index: label value that contributes no loss.
        class_weights: optional per-class weights (length ``num_classes``).
        ohem_thresh: probability threshold; ``None`` disables OHEM.
        min_kept: minimum number of pixels kept per batch when OHEM is on.
    """

    def __init__(
        self,
        ignore_index: int = 255,
        class_weights: Sequence[float] | None = None,
        ohem_thresh: float | None = None,
        min_kept: int = 100_000,
    ) -> None:
        super().__init__()
        if ohem_thresh is not None and not 0.0 < ohem_thresh <= 1.0:
            raise ValueError(f"loss.ohem_thresh must be in (0, 1], got {ohem_thresh}")
        if min_kept < 0:
            raise ValueError(f"loss.min_kept must be >= 0, got {min_kept}")
        self.ignore_index = ignore_index
        self.ohem_thresh = ohem_thresh
        self.min_kept = min_kept
        weight = torch.tensor(list(class_weights), dtype=torch.float) if class_weights is not None else None
        self.register_buffer("class_weights", weight, persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.class_weights is not None and self.class_weights.numel() != logits.shape[1]:
            raise ValueError(
                f"loss.class_weights has {self.class_weights.numel()} entries but the model predicts "
                f"{logits.shape[1]} classes"
            )
        logits = logits.float()  # the loss is computed in fp32 under autocast
        if self.ohem_thresh is None:
            return F.cross_entropy(logits, target, weight=self.class_weights, ignore_index=self.ignore_index)
        pixel_loss = F.cross_entropy(logits, target, ignore_index=self.ignore_index, reduction="none")
        keep = self._hard_pixels(logits, target)
        if self.class_weights is None:
            return pixel_loss[keep].sum() / keep.sum().clamp(min=1)
        w = self.class_weights[target.clamp(max=logits.shape[1] - 1)] * keep
        return (pixel_loss * w).sum() / w.sum().clamp(min=1e-12)

    @torch.no_grad()
    def _hard_pixels(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = target != self.ignore_index
        # probability of the true class, per pixel: (B, H, W)
        prob = logits.softmax(dim=1).gather(1, target.clamp(max=logits.shape[1] - 1).unsqueeze(1)).squeeze(1)
        valid_prob = prob[valid]
        threshold = self.ohem_thresh
        if 0 < self.min_kept < valid_prob.numel():
            # raise the threshold so that at least min_kept pixels pass
            kth = valid_prob.kthvalue(self.min_kept).values.item()
            threshold = max(threshold, kth)
        elif self.min_kept >= valid_prob.numel():
            return valid
        return valid & (prob <= threshold)


class WeightedSum(nn.Module):
    """Weighted sum of named criteria: ``sum(weights[name] * losses[name](logits, target))``.

    Args:
        losses: criteria ``loss(logits, target)`` by name (each handles ``ignore_index`` itself).
        weights: one weight per name in ``losses``.
    """

    def __init__(self, losses: Mapping[str, nn.Module], weights: Mapping[str, float]) -> None:
        super().__init__()
        if not losses:
            raise ValueError("loss.losses must name at least one loss")
        if set(losses) != set(weights):
            raise ValueError(
                f"loss.weights must have one entry per loss in loss.losses {sorted(losses)}, "
                f"got {sorted(weights)}"
            )
        self.losses = nn.ModuleDict(dict(losses))
        self.weights = {name: float(weights[name]) for name in losses}

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(self.weights[name] * loss(logits, target) for name, loss in self.losses.items())
