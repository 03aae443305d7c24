"""Decode heads: each is ``Head(in_channels, num_classes, *, ...)`` and returns logits at the
feature resolution (or a dict with ``out`` plus extra training outputs)."""

from attnseg.models.heads.ccnet import CCHead
from attnseg.models.heads.danet import DANetHead
from attnseg.models.heads.fcn import FCNHead
from attnseg.models.heads.nonlocal_ import NonLocalHead
from attnseg.models.heads.self_attn import SelfAttentionHead
from attnseg.models.heads.smp_decoders import (
    DeepLabV3Head,
    DeepLabV3PlusHead,
    FPNHead,
    PSPHead,
    UPerNetHead,
)

__all__ = [
    "CCHead",
    "DANetHead",
    "DeepLabV3Head",
    "DeepLabV3PlusHead",
    "FCNHead",
    "FPNHead",
    "NonLocalHead",
    "PSPHead",
    "SelfAttentionHead",
    "UPerNetHead",
]
