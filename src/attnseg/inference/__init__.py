"""Inference: checkpoints read back, test-time inference modes, image files, ONNX export.

``from attnseg.inference import Segmenter`` is the Python API for notebooks
(:mod:`attnseg.inference.segmenter`). It is imported on first use (:mod:`attnseg.config.lazy`), so
importing the package itself loads nothing else: each submodule loads only what it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attnseg.config.lazy import lazy_exports

if TYPE_CHECKING:
    from attnseg.inference.segmenter import Segmenter

__all__ = ["Segmenter"]
__getattr__, __dir__ = lazy_exports(__name__, {"Segmenter": "segmenter"})
