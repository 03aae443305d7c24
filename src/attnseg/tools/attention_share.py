"""How much of a trained model's attention goes where the cue is: ``attnseg-attention-share``.

    attnseg-attention-share <ckpt> --from crate_red crate_blue --to beacon [--split val] [--images 32]

For each attention module (a module applied several times with shared weights, CCNet's
recurrence: after one pass and after all passes, the product of its per-pass maps), the share of
each ``--from`` pixel's attention row that lands on ``--to`` pixels, averaged over those pixels
and over the first ``--images`` scenes of the run's own dataset split; beside it the ``--to``
pixels' share of the image (what uniform attention would give) and their ratio, the *lift*. A
head that learned to fetch a distant cue puts many times its area on it; one that did not stays
near 1x. Maps are compared at the attention's grid (stride 8): a pixel of the grid counts as
``--to`` when the label map, nearest-downsampled, says so.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from attnseg.inference.checkpoint import build_model, load_checkpoint, run_config
from attnseg.models.attention.capture import (
    capture_attention,
    is_spatial,
    query_row,
    require_attention_modules,
)


def attention_share(
    net: torch.nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    sources: Sequence[int],
    targets: Sequence[int],
) -> dict[str, tuple[float, float]]:
    """``{view: (mean share of the sources' attention on the targets, the targets' area share)}``
    over the images (B, 3, H, W) with masks (B, H, W) holding both kinds of pixel."""
    modules = require_attention_modules(net, "the checkpoint's model")
    shares: dict[str, list[float]] = {}
    areas: list[float] = []
    for image, mask in zip(images, masks, strict=True):
        maps = capture_attention(net, image[None])
        for name, calls in maps.items():
            (h, w) = calls[0][1]
            if not is_spatial(calls[0][0], (h, w), modules[name]):
                continue
            grid = F.interpolate(mask[None, None].float(), size=(h, w), mode="nearest")[0, 0].long().flatten()
            source = torch.isin(grid, torch.tensor(list(sources))).nonzero().flatten()
            target = torch.isin(grid, torch.tensor(list(targets)))
            if len(source) == 0 or not target.any():
                continue
            views = {name: [calls[0][0][0]]}
            if len(calls) > 1:  # CCNet's recurrence: one pass, then all of them composed
                views = {
                    f"{name} pass 1": [calls[0][0][0]],
                    f"{name} after {len(calls)} passes": [a[0] for a, _ in calls],
                }
            for view, per_pass in views.items():
                rows = torch.stack([query_row(per_pass, int(i)) for i in source])  # (S, N)
                shares.setdefault(view, []).append((rows[:, target].sum(1) / rows.sum(1)).mean().item())
            areas.append(target.float().mean().item())
    area = sum(areas) / max(len(areas), 1)
    return {view: (sum(v) / len(v), area) for view, v in shares.items()}


def main(argv: Sequence[str] | None = None) -> dict[str, tuple[float, float]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("ckpt", help="a checkpoint written by attnseg-train")
    parser.add_argument(
        "--from", dest="sources", nargs="+", required=True, help="class names of the query pixels"
    )
    parser.add_argument("--to", dest="targets", nargs="+", required=True, help="class names of the cue")
    parser.add_argument("--split", default="val", choices=["train", "val", "test"])
    parser.add_argument("--images", type=int, default=32, help="scenes of the split, from the first")
    args = parser.parse_args(argv)
    checkpoint = load_checkpoint(args.ckpt)
    cfg = run_config(checkpoint)
    names = list(cfg.dataset.class_names)
    for name in [*args.sources, *args.targets]:
        if name not in names:
            parser.error(f"{name!r} is not a class of the checkpoint's dataset {names}")
    net = build_model(cfg, checkpoint, args.ckpt).net
    dataset = instantiate(cfg.dataset[args.split])
    samples = [dataset[i] for i in range(min(args.images, len(dataset)))]
    images, masks = (torch.stack(s) for s in zip(*samples, strict=True))
    result = attention_share(
        net, images, masks, [names.index(n) for n in args.sources], [names.index(n) for n in args.targets]
    )
    print(f"| attention | share on {'+'.join(args.targets)} | their area | lift |")
    print("| --- | ---: | ---: | ---: |")
    for view, (share, area) in result.items():
        print(f"| {view} | {share:.3f} | {area:.3f} | {share / area:.1f}x |")
    return result


def cli() -> None:
    """Console-script entry point (``[project.scripts]``)."""
    main(sys.argv[1:])


if __name__ == "__main__":
    cli()
