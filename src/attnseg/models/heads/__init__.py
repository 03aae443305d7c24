"""Decode heads: each is ``Head(in_channels, num_classes, *, ...)`` and returns logits at the
feature resolution (or a dict with ``out`` plus extra training outputs).

Each head is imported on first use (:mod:`attnseg.config.lazy`): ``head=ccnet`` loads the CCNet
head only, not segmentation-models-pytorch, which only its decoders' heads need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attnseg.config.lazy import lazy_exports

if TYPE_CHECKING:
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
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CCHead": "ccnet",
        "DANetHead": "danet",
        "FCNHead": "fcn",
        "NonLocalHead": "nonlocal_",
        "SelfAttentionHead": "self_attn",
        "DeepLabV3Head": "smp_decoders",
        "DeepLabV3PlusHead": "smp_decoders",
        "FPNHead": "smp_decoders",
        "PSPHead": "smp_decoders",
        "UPerNetHead": "smp_decoders",
    },
)
