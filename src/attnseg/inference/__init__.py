"""Inference: checkpoints read back, test-time inference modes, image files, ONNX export.

``from attnseg.inference import Segmenter`` is the Python API for notebooks
(:mod:`attnseg.inference.segmenter`). It is imported on first use, so importing the package
itself loads nothing else: each submodule loads only what it needs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Segmenter"]


def __getattr__(name: str) -> Any:
    if name == "Segmenter":
        from attnseg.inference.segmenter import Segmenter

        return Segmenter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
