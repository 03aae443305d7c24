"""Package attributes imported on first use (PEP 562), so a package's names cost nothing until read.

``attnseg.models.heads`` names every head, but a run with ``head=ccnet`` must not pay for the
segmentation-models-pytorch heads; ``attnseg.models`` names the segmentor, but the attention
modules it holds must not pull in timm. A package lists its names here instead of importing them::

    __getattr__, __dir__ = lazy_exports(__name__, {"Segmentor": "segmentor"})

``from attnseg.models import Segmentor`` and Hydra's ``_target_: attnseg.models.Segmentor`` then
import ``attnseg.models.segmentor`` when the name is first read, and only then.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``: ``exports`` maps each public name
    to the submodule (relative to ``package``) that defines it."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = f"{package}.{exports[name]}"
        __import__(module)  # unlike importlib.import_module, listed by `python -X importtime`
        value = getattr(sys.modules[module], name)
        setattr(sys.modules[package], name, value)  # from now on a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__
