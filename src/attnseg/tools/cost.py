"""Parameters, FLOPs and latency of a segmentor and of its decode head, at a given input size.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode``: one multiply-add counts as 2 FLOPs;
convolutions, matrix products and attention are counted, element-wise ops, pooling and resizing
are not. Latency is the median wall time of a forward pass (the GPU synchronised around each,
:func:`attnseg.tools.measure.time_steps`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import torch
from hydra.utils import instantiate
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from attnseg.config.compose import compose
from attnseg.models import Segmentor
from attnseg.tools.measure import time_steps


def build_net(head: str, overrides: Sequence[str] = ()) -> Segmentor:
    """The segmentor that ``attnseg-train head=<head> <overrides>`` would train."""
    return instantiate(compose("train", [f"head={head}", *overrides]).model.net)


def _flops(module: nn.Module, *args: object) -> int:
    with FlopCounterMode(display=False) as counter:
        module(*args)
    return counter.get_total_flops()


def _latency_ms(net: nn.Module, images: torch.Tensor, repeats: int) -> float:
    net(images)  # warm-up: allocator, cuDNN autotuning, lazy inits
    return 1000 * statistics.median(time_steps(lambda: net(images), repeats, images.device))


def _num_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def head_cost(
    model: Segmentor | str,
    input_size: int | tuple[int, int] = 512,
    *,
    overrides: Sequence[str] = (),
    repeats: int = 5,
    device: str = "cpu",
) -> dict[str, float]:
    """Cost of one inference forward of a segmentor at ``input_size``.

    Args:
        model: a :class:`Segmentor`, or the name of a ``conf/head`` option to build with ``overrides``.
        input_size: image side, or ``(height, width)``.
        overrides: Hydra overrides used when ``model`` is a name (e.g. ``backbone=resnet50d``).
        repeats: timed forward passes (after one warm-up); the median is reported.
        device: where to run, e.g. ``cpu`` or ``cuda``.

    Returns:
        ``params`` and ``gflops`` of backbone + head, ``head_params`` and ``head_gflops`` of the
        decode head alone, ``latency_ms`` of the whole forward, and the backbone's ``output_stride``.
    """
    net = build_net(model, overrides) if isinstance(model, str) else model
    net = net.to(device).eval()
    height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
    images = torch.rand(1, 3, height, width, device=device)
    with torch.inference_mode():
        features = net.backbone(images)
        head_flops = _flops(net.head, net.head_input(features))
        total_flops = _flops(net, images)
        latency = _latency_ms(net, images, repeats)
    return {
        "params": _num_params(net.backbone) + _num_params(net.head),
        "head_params": _num_params(net.head),
        "gflops": total_flops / 1e9,
        "head_gflops": head_flops / 1e9,
        "latency_ms": latency,
        "output_stride": net.backbone.output_stride,
    }
