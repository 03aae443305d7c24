"""Convert published CCNet / DANet / Non-local checkpoints into attnseg checkpoints.

    attnseg-convert <source .pth> --layout mmseg --output ccnet_r50.ckpt experiment=cityscapes_ccnet_r50 backbone=resnet50c

The arguments after the options are Hydra overrides, as for ``attnseg-train``: they describe the
model the weights are for (and so the run config stored in the checkpoint). The source's keys are
renamed by the rules of its ``--layout``, then loaded strictly: a source key no rule maps, a
model weight the source lacks, or a shape that differs stops the conversion with the keys named.
The result is what ``attnseg-train`` writes (``state_dict`` + ``attnseg_config``), so
``attnseg-eval ckpt_path=<output> dataset.root=...`` evaluates the published model.

Layouts (the key names of each source):

- ``mmseg``: MMSegmentation's CCNet (``CCHead``), DANet (``DAHead``) and Non-local (``NLHead``)
  models with their FCN auxiliary head and ``ResNetV1c`` backbone (timm's ``resnet50c`` /
  ``resnet101c``: the same deep stem and layers; both start a dilated stage with half its
  dilation, mmseg's ``contract_dilation=True``).
- ``ccnet``: the authors' CCNet (``head`` = ``RCCAModule``, ``dsn`` = its auxiliary head) and
  deep-stem ResNet-101 (64-64-128 stem: timm's ``resnet101s`` layout).
- ``danet``: the authors' DANet (``head`` = ``DANetHead``, ``pretrained`` = its ResNet, deep or plain stem:
  timm's ``resnet101s`` or ``resnet101`` layout).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from attnseg.config.compose import compose
from attnseg.training.module import RUN_CONFIG_KEY

Rules = list[tuple[str, str]]  # (regex on the source key, replacement)

# timm's deep stem (conv1 = conv, bn, act, conv, bn, act, conv; then bn1) under other names
TIMM_DEEP_STEM = ("conv1.0", "conv1.1", "conv1.3", "conv1.4", "conv1.6", "bn1")


def _renames(src_prefix: str, dst_prefix: str, pairs: Iterable[tuple[str, str]]) -> Rules:
    return [(rf"^{re.escape(src_prefix + src)}\.", f"{dst_prefix}{dst}.") for src, dst in pairs]


def _conv_module(src: str, dst: str) -> Rules:
    """mmseg's ConvModule (``conv``, ``bn``) -> our ConvNormAct (``0``, ``1``)."""
    return _renames(f"{src}.", f"{dst}.", (("conv", "0"), ("bn", "1")))


MMSEG: Rules = [
    *_renames("backbone.stem.", "net.backbone.body.", zip(("0", "1", "3", "4", "6", "7"), TIMM_DEEP_STEM, strict=True)),
    (r"^backbone\.(layer\d)\.", r"net.backbone.body.\1."),
    *_conv_module("auxiliary_head.convs.0", "net.aux_head.convs.0"),
    (r"^auxiliary_head\.conv_seg\.", "net.aux_head.classifier."),
    # CCHead / NLHead: convs.0 -> module -> convs.1 -> concat input -> conv_cat -> conv_seg
    *_conv_module("decode_head.convs.0", "net.head.reduce"),
    *_conv_module("decode_head.convs.1", "net.head.conv"),
    (r"^decode_head\.cca\.gamma\.scale$", "net.head.attention.gamma"),
    (r"^decode_head\.cca\.", "net.head.attention."),
    (r"^decode_head\.nl_block\.(g|theta|phi)\.conv\.", r"net.head.attention.\1."),
    (r"^decode_head\.nl_block\.conv_out\.conv\.", "net.head.attention.out_proj."),
    (r"^decode_head\.nl_block\.conv_out\.bn\.", "net.head.attention.norm."),
    # DAHead: a PAM and a CAM branch, each with its own classifier, summed for conv_seg
    *[rule for branch in ("pam", "cam") for part in ("in", "out")
      for rule in _conv_module(f"decode_head.{branch}_{part}_conv", f"net.head.{branch}_{part}")],
    (r"^decode_head\.pam\.(query|key|value)_project\.conv\.", r"net.head.pam.\1_conv."),
    (r"^decode_head\.(pam|cam)\.gamma\.scale$", r"net.head.\1.gamma"),
    (r"^decode_head\.(pam|cam)_conv_seg\.", r"net.head.\1_classifier."),
    (r"^decode_head\.conv_seg\.", "net.head.classifier."),
]  # fmt: skip
# a conv_cat is CCHead's bottleneck and NLHead's fuse: told apart by the model (see _rules)
MMSEG_CCHEAD = _conv_module("decode_head.conv_cat", "net.head.bottleneck")
MMSEG_NLHEAD = _conv_module("decode_head.conv_cat", "net.head.fuse")

CCNET: Rules = [
    *_renames(
        "",
        "net.backbone.body.",
        zip(("conv1", "bn1", "conv2", "bn2", "conv3", "bn3"), TIMM_DEEP_STEM, strict=True),
    ),
    (r"^(layer\d)\.", r"net.backbone.body.\1."),
    (r"^head\.conva\.", "net.head.reduce."),
    (r"^head\.cca\.", "net.head.attention."),
    (r"^head\.convb\.", "net.head.conv."),
    (r"^head\.bottleneck\.([01])\.", r"net.head.bottleneck.\1."),
    (r"^head\.bottleneck\.3\.", "net.head.classifier."),
    (r"^dsn\.([01])\.", r"net.aux_head.convs.0.\1."),
    (r"^dsn\.3\.", "net.aux_head.classifier."),
]
DANET: Rules = [
    (r"^pretrained\.(conv1|bn1|layer\d)", r"net.backbone.body.\1"),  # deep (conv1.<i>) or plain stem
    (r"^pretrained\.fc\.", ""),  # the ImageNet classifier: dropped
    (r"^head\.conv5a\.", "net.head.pam_in."),
    (r"^head\.sa\.", "net.head.pam."),
    (r"^head\.conv51\.", "net.head.pam_out."),
    (r"^head\.conv6\.1\.", "net.head.pam_classifier."),
    (r"^head\.conv5c\.", "net.head.cam_in."),
    (r"^head\.sc\.", "net.head.cam."),
    (r"^head\.conv52\.", "net.head.cam_out."),
    (r"^head\.conv7\.1\.", "net.head.cam_classifier."),
    (r"^head\.conv8\.1\.", "net.head.classifier."),
]
LAYOUTS = {"mmseg": MMSEG, "ccnet": CCNET, "danet": DANET}


def _rules(layout: str, model: torch.nn.Module) -> Rules:
    if layout != "mmseg":
        return LAYOUTS[layout]
    extra = MMSEG_NLHEAD if hasattr(model.net.head, "fuse") else MMSEG_CCHEAD
    return MMSEG + extra


def rename(source: dict[str, torch.Tensor], rules: Rules) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``(renamed weights, source keys no rule maps)``; a rule that maps to ``""`` drops the key."""
    renamed, unmapped = {}, []
    for key, value in source.items():
        key = key.removeprefix("module.")  # saved from DataParallel / DDP
        for pattern, repl in rules:
            if re.search(pattern, key):
                new = re.sub(pattern, repl, key)
                if repl:
                    renamed[new] = value
                break
        else:
            unmapped.append(key)
    return renamed, unmapped


def convert(source: dict[str, torch.Tensor], layout: str, overrides: Sequence[str]) -> dict:
    """An attnseg checkpoint of the model ``overrides`` describe, with the source's weights."""
    cfg = compose("train", [*overrides, "backbone.pretrained=false", "backbone.weights=null"])
    run_config = OmegaConf.to_container(cfg, resolve=True)
    model = instantiate(cfg.model, _partial_=True)(run_config=run_config)
    renamed, unmapped = rename(source, _rules(layout, model))
    target = model.state_dict()
    # InPlaceABN and older BN checkpoints have no counter; it only matters for momentum=None
    for key, value in target.items():
        if key.endswith("num_batches_tracked") and key not in renamed:
            renamed[key] = torch.zeros_like(value)
    missing = sorted(set(target) - set(renamed))
    unexpected = sorted(set(renamed) - set(target))
    shapes = [f"{k}: source {tuple(renamed[k].shape)}, model {tuple(target[k].shape)}"
              for k in target if k in renamed and renamed[k].shape != target[k].shape]  # fmt: skip
    problems = [
        (f"{len(unmapped)} source keys no {layout!r} rule maps", unmapped),
        (f"{len(missing)} model weights the source lacks", missing),
        (f"{len(unexpected)} renamed keys the model does not have", unexpected),
        (f"{len(shapes)} shapes differ", shapes),
    ]
    problems = [(title, items) for title, items in problems if items]
    if problems:
        text = "; ".join(
            f"{title}: {', '.join(items[:6])}{' ...' if len(items) > 6 else ''}" for title, items in problems
        )
        raise ValueError(f"the {layout!r} checkpoint does not fit the model of {list(overrides)}: {text}")
    model.load_state_dict(renamed, strict=True)
    return {"state_dict": model.state_dict(), RUN_CONFIG_KEY: run_config}


def load_source(path: Path) -> dict[str, torch.Tensor]:
    """The weights of a ``.pth``: a plain state dict, or one under ``state_dict`` / ``model``."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
    if not isinstance(checkpoint, dict) or not all(torch.is_tensor(v) for v in checkpoint.values()):
        raise ValueError(f"{path}: expected a state dict of tensors (or one under 'state_dict' / 'model')")
    return checkpoint


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", type=Path, help="the published checkpoint (.pth)")
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides describing the model, as for attnseg-train"
    )
    parser.add_argument(
        "--layout", choices=sorted(LAYOUTS), required=True, help="whose key names the source uses"
    )
    parser.add_argument("--output", type=Path, required=True, help="the attnseg checkpoint to write")
    args = parser.parse_intermixed_args(argv)
    checkpoint = convert(load_source(args.source), args.layout, args.overrides)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, args.output)
    print(f"Wrote {args.output}: evaluate it with attnseg-eval ckpt_path={args.output}")
    return args.output


def cli() -> None:
    """Console-script entry point (``[project.scripts]``): ``main`` on the command line's arguments."""
    main(sys.argv[1:])


if __name__ == "__main__":
    cli()
