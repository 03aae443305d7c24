"""Decode heads: each is ``Head(in_channels, num_classes, *, ...)`` and returns logits at the
feature resolution (or a dict with ``out`` plus extra training outputs)."""

from attnseg.models.heads.fcn import FCNHead
from attnseg.models.heads.smp_decoders import (
    DeepLabV3Head,
    DeepLabV3PlusHead,
    FPNHead,
    PSPHead,
    UPerNetHead,
)

__all__ = ["FCNHead", "DeepLabV3Head", "DeepLabV3PlusHead", "FPNHead", "PSPHead", "UPerNetHead"]
