"""Where inference runs."""

from __future__ import annotations

import torch


def pick_device(name: str) -> torch.device:
    """``auto`` picks the GPU when there is one; anything else is a torch device name."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
