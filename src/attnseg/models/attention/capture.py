"""Attention maps of every attention module of a network, recorded during one forward pass.

Every attention module has ``forward(x, return_attention=True) -> (out, attn)``: forward pre-hooks
record each module's inputs during one normal forward pass, then the module is called again on
them to get its maps. A module applied several times with shared weights (CCNet's recurrence)
gets one map per call; :func:`query_row` composes them into the effective map after all passes.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from torch import nn

from attnseg.models.attention.channel_attention import ChannelAttention

Maps = dict[str, list[tuple[torch.Tensor, tuple[int, int]]]]  # module path -> per call: (attn, (h, w))


def attention_modules(net: nn.Module) -> dict[str, nn.Module]:
    """The modules whose ``forward`` takes ``return_attention``, by their path in ``net``."""
    return {
        name: module
        for name, module in net.named_modules()
        if "return_attention" in inspect.signature(module.forward).parameters
    }


def require_attention_modules(net: nn.Module, owner: str) -> dict[str, nn.Module]:
    """:func:`attention_modules`, or a ``ValueError`` ``"<owner> has no attention module"``."""
    modules = attention_modules(net)
    if not modules:
        raise ValueError(f"{owner} has no attention module")
    return modules


@torch.inference_mode()
def capture_attention(net: nn.Module, images: torch.Tensor) -> Maps:
    """Every attention module's maps on ``images``, one entry per call (in call order)."""
    modules = attention_modules(net)
    calls: dict[str, list[tuple[tuple, dict]]] = {name: [] for name in modules}

    def recorder(name: str):
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            calls[name].append((tuple(a.clone() if torch.is_tensor(a) else a for a in args), dict(kwargs)))

        return hook

    handles = [m.register_forward_pre_hook(recorder(name), with_kwargs=True) for name, m in modules.items()]
    try:
        net(images)
    finally:
        for handle in handles:
            handle.remove()
    maps: Maps = {}
    for name, module_calls in calls.items():
        for args, kwargs in module_calls:
            _, attn = modules[name](*args, **{**kwargs, "return_attention": True})
            maps.setdefault(name, []).append((attn.float(), tuple(args[0].shape[-2:])))
    return maps


def is_spatial(attn: torch.Tensor, size: tuple[int, int], module: nn.Module) -> bool:
    """(B, H*W, H*W) pixel maps vs (B, C, C) channel maps (told apart by class when H*W == C)."""
    return attn.shape[-1] == size[0] * size[1] and not isinstance(module, ChannelAttention)


def query_row(maps: Sequence[torch.Tensor], index: int) -> torch.Tensor:
    """Row ``index`` of ``A_R ... A_2 A_1`` for per-pass maps ``[A_1, ..., A_R]`` (each (N, N))."""
    row = maps[-1][index]
    for attn in reversed(maps[:-1]):
        row = row @ attn  # (N,)
    return row
