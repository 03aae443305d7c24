"""Models: a timm backbone, attention modules, decode heads, the segmentor joining them.

The names below are imported on first use (:mod:`attnseg.config.lazy`): the attention modules and
heads load without timm, which only the backbone needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attnseg.config.lazy import lazy_exports

if TYPE_CHECKING:
    from attnseg.models.backbone import TimmBackbone
    from attnseg.models.segmentor import Segmentor

__all__ = ["Segmentor", "TimmBackbone"]
__getattr__, __dir__ = lazy_exports(__name__, {"Segmentor": "segmentor", "TimmBackbone": "backbone"})
