"""``attnseg-convert``: published checkpoints' key layouts mapped onto attnseg's models.

The source models are small, randomly initialised modules written here from the papers' and the
libraries' descriptions (their module names and layer order, not their code): the authors'
``DANetHead`` and CCNet ``RCCAModule`` (InPlaceABN = BN + leaky ReLU 0.01), MMSegmentation's
``CCHead``, ``DAHead`` and ``NLHead`` (``ConvModule`` = conv, bn, act). Each is converted and must
give the same logits as the attnseg model that loads it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import nn

from attnseg.inference.checkpoint import build_model, load_checkpoint, run_config
from attnseg.models.attention import ChannelAttention, CrissCrossAttention, PositionAttention
from attnseg.models.attention.criss_cross import criss_cross_gather, criss_cross_probs
from attnseg.tools import convert

IN, CLASSES = 96, 5  # test_resnet's last stage has 96 channels (dilated to stride 8)
SMALL = ["backbone=test_resnet", "dataset.num_classes=5", "model.net.aux_head=null", "logger=none"]
# class names/palette must follow num_classes for the config to be valid
SMALL += ["dataset.class_names=[a,b,c,d,e]", "dataset.palette=[[0,0,0],[1,1,1],[2,2,2],[3,3,3],[4,4,4]]"]


def _randomise(module: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    for name, tensor in module.state_dict().items():
        if tensor.is_floating_point():
            tensor.copy_(
                torch.rand_like(tensor) + 0.5 if "running_var" in name else torch.randn_like(tensor) * 0.2
            )
    return module.eval()


class ABN(nn.BatchNorm2d):
    """InPlaceABN(Sync): batch norm and leaky ReLU (0.01) in one module, one set of BN keys."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(super().forward(x), 0.01)


class ConvModule(nn.Module):
    """MMCV's ConvModule: ``conv`` [+ ``bn``] [+ ReLU]."""

    def __init__(self, cin: int, cout: int, k: int, norm: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=not norm)
        self.bn = nn.BatchNorm2d(cout) if norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return x if self.bn is None else F.relu(self.bn(x))


class Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(1))


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class OfficialDANetHead(nn.Module):
    def __init__(self, cin: int, classes: int) -> None:
        super().__init__()
        inter = cin // 4
        block = _conv_bn_relu
        self.conv5a, self.conv5c = block(cin, inter), block(cin, inter)
        self.sa, self.sc = PositionAttention(inter), ChannelAttention(inter)
        self.conv51, self.conv52 = block(inter, inter), block(inter, inter)
        self.conv6, self.conv7, self.conv8 = (
            nn.Sequential(nn.Dropout2d(0.1), nn.Conv2d(inter, classes, 1)) for _ in range(3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv8(self.conv51(self.sa(self.conv5a(x))) + self.conv52(self.sc(self.conv5c(x))))


class OfficialRCCAModule(nn.Module):
    def __init__(self, cin: int, classes: int, recurrence: int = 2) -> None:
        super().__init__()
        inter = cin // 4
        self.recurrence = recurrence
        self.conva = nn.Sequential(nn.Conv2d(cin, inter, 3, padding=1, bias=False), ABN(inter))
        self.cca = CrissCrossAttention(inter)
        self.convb = nn.Sequential(nn.Conv2d(inter, inter, 3, padding=1, bias=False), ABN(inter))
        self.bottleneck = nn.Sequential(
            nn.Conv2d(cin + inter, 512, 3, padding=1, bias=False),
            ABN(512),
            nn.Dropout2d(0.1),
            nn.Conv2d(512, classes, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conva(x)
        for _ in range(self.recurrence):
            y = self.cca(y)
        return self.bottleneck(torch.cat([x, self.convb(y)], 1))


class MmsegCCHead(nn.Module):
    def __init__(self, cin: int, classes: int, channels: int = 16) -> None:
        super().__init__()
        self.convs = nn.ModuleList([ConvModule(cin, channels, 3), ConvModule(channels, channels, 3)])
        self.cca = nn.Module()
        for name, cout in (
            ("query_conv", channels // 8),
            ("key_conv", channels // 8),
            ("value_conv", channels),
        ):
            setattr(self.cca, name, nn.Conv2d(channels, cout, 1))
        self.cca.gamma = Scale()
        self.conv_cat = ConvModule(cin + channels, channels, 3)
        self.conv_seg = nn.Conv2d(channels, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convs[0](x)
        for _ in range(2):
            c = self.cca
            y = (
                c.gamma.scale
                * criss_cross_gather(criss_cross_probs(c.query_conv(y), c.key_conv(y)), c.value_conv(y))
                + y
            )
        return self.conv_seg(self.conv_cat(torch.cat([x, self.convs[1](y)], 1)))


class MmsegNLHead(nn.Module):
    def __init__(self, cin: int, classes: int, channels: int = 16) -> None:
        super().__init__()
        self.convs = nn.ModuleList([ConvModule(cin, channels, 3), ConvModule(channels, channels, 3)])
        self.nl_block = nn.Module()
        for name in ("g", "theta", "phi"):
            setattr(self.nl_block, name, ConvModule(channels, channels // 2, 1, norm=False))
        self.nl_block.conv_out = nn.Module()
        self.nl_block.conv_out.conv = nn.Conv2d(channels // 2, channels, 1, bias=False)
        self.nl_block.conv_out.bn = nn.BatchNorm2d(channels)
        self.conv_cat = ConvModule(cin + channels, channels, 3)
        self.conv_seg = nn.Conv2d(channels, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convs[0](x)
        nl, (b, c, h, w) = self.nl_block, y.shape
        theta, phi, g = (m(y).flatten(2) for m in (nl.theta, nl.phi, nl.g))  # (B, C/2, N)
        attn = torch.softmax(theta.transpose(1, 2) @ phi / theta.shape[1] ** 0.5, dim=-1)  # (B, N, N)
        z = (g @ attn.transpose(1, 2)).view(b, c // 2, h, w)
        y = y + nl.conv_out.bn(nl.conv_out.conv(z))
        return self.conv_seg(self.conv_cat(torch.cat([x, self.convs[1](y)], 1)))


class MmsegDAHead(nn.Module):
    def __init__(self, cin: int, classes: int, channels: int = 16) -> None:
        super().__init__()
        for branch in ("pam", "cam"):
            setattr(self, f"{branch}_in_conv", ConvModule(cin, channels, 3))
            setattr(self, f"{branch}_out_conv", ConvModule(channels, channels, 3))
            setattr(self, f"{branch}_conv_seg", nn.Conv2d(channels, classes, 1))
        self.pam = nn.Module()
        for name, cout in (
            ("query_project", channels // 8),
            ("key_project", channels // 8),
            ("value_project", channels),
        ):
            setattr(self.pam, name, ConvModule(channels, cout, 1, norm=False))
        self.pam.gamma, self.cam = Scale(), nn.Module()
        self.cam.gamma = Scale()
        self.conv_seg = nn.Conv2d(channels, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.pam_in_conv(x)
        q, k, v = (getattr(self.pam, f"{n}_project")(p).flatten(2) for n in ("query", "key", "value"))
        attn = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # (B, N, N)
        p = self.pam.gamma.scale * (v @ attn.transpose(1, 2)).view_as(p) + p
        c = self.cam_in_conv(x)
        flat = c.flatten(2)  # (B, C, N)
        energy = flat @ flat.transpose(1, 2)
        attn = torch.softmax(energy.amax(-1, keepdim=True) - energy, dim=-1)
        c = self.cam.gamma.scale * (attn @ flat).view_as(c) + c
        return self.conv_seg(self.pam_out_conv(p) + self.cam_out_conv(c))


CASES = {
    "official-danet": ("danet", OfficialDANetHead(IN, CLASSES), "head", ["head=danet"]),
    "official-ccnet": (
        "ccnet",
        OfficialRCCAModule(IN, CLASSES),
        "head",
        ["head=ccnet", "head.bottleneck_channels=512", "+head.act_layer._target_=torch.nn.LeakyReLU",
         "+head.act_layer._partial_=true", "+head.act_layer.negative_slope=0.01"],
    ),
    "mmseg-cchead": ("mmseg", MmsegCCHead(IN, CLASSES), "decode_head", ["head=ccnet", "head.channels=16"]),
    "mmseg-nlhead": ("mmseg", MmsegNLHead(IN, CLASSES), "decode_head", ["head=nonlocal", "head.channels=16"]),
    "mmseg-dahead": ("mmseg", MmsegDAHead(IN, CLASSES), "decode_head", ["head=danet", "head.channels=16"]),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_converted_head_gives_the_source_models_logits(case: str, make_cfg, tmp_path: Path) -> None:
    layout, source, prefix, overrides = CASES[case]
    _randomise(source)
    # the backbone of the converted model: weights taken from an attnseg model of the same config
    reference = instantiate(make_cfg(*SMALL, *overrides).model)
    weights = {f"{prefix}.{k}": v for k, v in source.state_dict().items()}
    backbone_prefix = {"mmseg": "backbone.", "ccnet": "", "danet": "pretrained."}[layout]
    for key, value in reference.net.backbone.body.state_dict().items():
        weights[backbone_prefix + key] = value  # test_resnet keys: the deep-stem rules leave them alone
    if layout == "mmseg":  # timm's deep-stem names -> mmseg's stem.<i> (test_resnet has a deep stem)
        stem = {
            "conv1.0": "stem.0",
            "conv1.1": "stem.1",
            "conv1.3": "stem.3",
            "conv1.4": "stem.4",
            "conv1.6": "stem.6",
            "bn1": "stem.7",
        }
        weights = {_rekey(k, "backbone.", stem): v for k, v in weights.items()}
    elif layout == "ccnet":
        stem = {
            "conv1.0": "conv1",
            "conv1.1": "bn1",
            "conv1.3": "conv2",
            "conv1.4": "bn2",
            "conv1.6": "conv3",
            "bn1": "bn3",
        }
        weights = {_rekey(k, "", stem): v for k, v in weights.items()}
    converted = convert.convert(weights, layout, [*SMALL, *overrides])
    path = tmp_path / "converted.ckpt"
    torch.save(converted, path)
    checkpoint = load_checkpoint(path)  # what attnseg-eval reads
    model = build_model(run_config(checkpoint), checkpoint, path)
    for key, value in reference.net.backbone.body.state_dict().items():  # the stem / layer renames
        assert torch.equal(model.net.backbone.body.state_dict()[key], value), key
    x = torch.randn(2, IN, 9, 11)
    with torch.no_grad():
        torch.testing.assert_close(model.net.head(x), source(x), rtol=1e-5, atol=1e-5)
        if "danet" in case or "dahead" in case:  # the per-branch predictions trained with their own loss
            head = model.net.head.train()
            for m in head.modules():
                m.training = m is head  # dropout and batch norm as in eval; the head returns its branches
            branches = head(x)
            for branch, expected in _branches(source, x).items():
                torch.testing.assert_close(branches[branch], expected, rtol=1e-5, atol=1e-5)


def _branches(source: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    if isinstance(source, OfficialDANetHead):
        return {
            "pam": source.conv6(source.conv51(source.sa(source.conv5a(x)))),
            "cam": source.conv7(source.conv52(source.sc(source.conv5c(x)))),
        }
    p = source.pam_in_conv(x)
    q, k, v = (getattr(source.pam, f"{n}_project")(p).flatten(2) for n in ("query", "key", "value"))
    p = (
        source.pam.gamma.scale * (v @ torch.softmax(q.transpose(1, 2) @ k, dim=-1).transpose(1, 2)).view_as(p)
        + p
    )
    c = source.cam_in_conv(x)
    flat = c.flatten(2)
    energy = flat @ flat.transpose(1, 2)
    c = (
        source.cam.gamma.scale
        * (torch.softmax(energy.amax(-1, keepdim=True) - energy, dim=-1) @ flat).view_as(c)
        + c
    )
    return {
        "pam": source.pam_conv_seg(source.pam_out_conv(p)),
        "cam": source.cam_conv_seg(source.cam_out_conv(c)),
    }


def _rekey(key: str, prefix: str, stem: dict[str, str]) -> str:
    if not key.startswith(prefix):
        return key
    rest = key[len(prefix) :]
    for ours, theirs in stem.items():
        if rest.startswith(ours + "."):
            return prefix + theirs + rest[len(ours) :]
    return key


def test_unmapped_and_missing_keys_are_named(make_cfg) -> None:
    weights = {"decode_head.something_else.weight": torch.zeros(1)}
    with pytest.raises(
        ValueError,
        match=r"source keys no 'mmseg' rule maps: decode_head.something_else.weight.*model weights the source lacks",
    ):
        convert.convert(weights, "mmseg", [*SMALL, "head=ccnet"])
