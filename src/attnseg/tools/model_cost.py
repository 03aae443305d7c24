"""Parameters, FLOPs and latency of the segmentor with each decode head.

Arguments other than ``head=`` are Hydra overrides, as for ``attnseg-train``::

    attnseg-model-cost head=fcn,deeplabv3plus,upernet backbone=resnet50d --size 512

Without ``head=`` every option in ``conf/head/`` is measured. Costs are for one image in eval mode
(so without the training-only auxiliary head). FLOPs come from
``torch.utils.flop_counter.FlopCounterMode``: one multiply-add counts as 2 FLOPs; convolutions,
matrix products and attention are counted, element-wise ops, pooling and resizing are not.
Latency is the median wall time of a forward pass on ``--device``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from attnseg.config.compose import compose, conf_dir
from attnseg.models import Segmentor


def build_net(head: str, overrides: Sequence[str] = ()) -> Segmentor:
    """The segmentor that ``attnseg-train head=<head> <overrides>`` would train."""
    return instantiate(compose("train", [f"head={head}", *overrides]).model.net)


def _flops(module: nn.Module, *args: object) -> int:
    with FlopCounterMode(display=False) as counter:
        module(*args)
    return counter.get_total_flops()


def _latency_ms(net: nn.Module, images: torch.Tensor, repeats: int) -> float:
    def sync() -> None:
        if images.is_cuda:
            torch.cuda.synchronize()

    net(images)  # warm-up: allocator, cuDNN autotuning, lazy inits
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        net(images)
        sync()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


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


def _refusal(err: Exception) -> str:
    """The ValueError behind a Hydra instantiation error: the message a user acts on."""
    while isinstance(err, InstantiationException) and err.__cause__ is not None:
        err = err.__cause__
    return str(err).splitlines()[0]


def format_table(rows: dict[str, dict[str, float] | str]) -> str:
    """Markdown table; a row given as a string is a head refused at these settings."""
    lines = [
        "| head | output stride | head params (M) | total params (M) | head GFLOPs | total GFLOPs | latency (ms) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for head, cost in rows.items():
        if isinstance(cost, str):
            lines.append(f"| {head} | refused: {cost} | | | | | |")
            continue
        lines.append(
            f"| {head} | {cost['output_stride']} | {cost['head_params'] / 1e6:.2f} | "
            f"{cost['params'] / 1e6:.2f} | {cost['head_gflops']:.1f} | {cost['gflops']:.1f} | "
            f"{cost['latency_ms']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float] | str]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("overrides", nargs="*", help="head=a,b,c and Hydra overrides, as for train.py")
    parser.add_argument("--size", type=int, default=512, help="square input side in pixels")
    parser.add_argument("--repeats", type=int, default=5, help="timed forward passes per head")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    args = parser.parse_intermixed_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    heads = [o.split("=", 1)[1].split(",") for o in args.overrides if o.startswith("head=")]
    heads = heads[-1] if heads else sorted(p.stem for p in (conf_dir() / "head").glob("*.yaml"))
    overrides = [o for o in args.overrides if not o.startswith("head=")]
    rows: dict[str, dict[str, float] | str] = {}
    for head in heads:
        try:
            rows[head] = head_cost(
                head,
                args.size,
                overrides=overrides,
                repeats=args.repeats,
                device=args.device,
            )
        except (InstantiationException, ValueError) as err:
            rows[head] = _refusal(err)
    device = (
        torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else f"cpu, {torch.get_num_threads()} threads"
    )
    print(
        f"{args.size}x{args.size} input, batch 1, eval mode; overrides: {' '.join(overrides) or 'none'}; {device}"
    )
    print(format_table(rows))
    return rows



def cli() -> None:
    """Console-script entry point (``[project.scripts]``): ``main`` on the command line's arguments."""
    main(sys.argv[1:])


if __name__ == "__main__":
    cli()
