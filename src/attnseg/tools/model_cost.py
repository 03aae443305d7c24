"""Parameters, FLOPs and latency of the segmentor with each decode head.

Arguments other than ``head=`` are Hydra overrides, as for ``attnseg-train``::

    attnseg-model-cost head=fcn,deeplabv3plus,upernet backbone=resnet50d --size 512

Without ``head=`` every option in ``conf/head/`` is measured. Costs are for one image in eval mode
(so without the training-only auxiliary head); how they are counted: :mod:`attnseg.tools.cost`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import torch
from hydra.errors import InstantiationException

from attnseg.config.compose import conf_dir
from attnseg.tools.cost import head_cost
from attnseg.tools.measure import device_option


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
    parser.add_argument(
        "--device",
        type=device_option,
        default="auto",
        help="auto (default: the GPU when there is one), cpu or cuda[:i]",
    )
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
