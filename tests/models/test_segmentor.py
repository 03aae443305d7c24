"""Backbone dilation; the segmentor: what it hands each head (read from the head's signature),
its outputs and normalisation. The heads themselves: tests/models/heads/."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import pytest
import torch
from torch import nn

from attnseg.models import Segmentor, TimmBackbone
from attnseg.models.heads import FCNHead, FPNHead
from attnseg.models.segmentor import derived_kwargs, reads_every_stage


@pytest.mark.parametrize("output_stride", [8, 16])
def test_backbone_reaches_the_requested_stride(output_stride: int) -> None:
    backbone = TimmBackbone("test_resnet", output_stride=output_stride)
    features = backbone(torch.zeros(1, 3, 64, 64))
    assert features[-1].shape[-1] == 64 // output_stride
    assert backbone.reductions[-1] == output_stride


def test_backbone_loads_a_local_weights_file(tmp_path) -> None:
    import timm

    source = timm.create_model("test_resnet")
    torch.nn.init.constant_(
        source.conv1[0].weight if isinstance(source.conv1, nn.Sequential) else source.conv1.weight, 0.5
    )
    path = tmp_path / "weights.pth"
    torch.save(source.state_dict(), path)
    backbone = TimmBackbone("test_resnet", weights=str(path))
    stem = dict(backbone.body.named_parameters())
    first = next(iter(stem))
    assert torch.all(stem[first] == 0.5), first


def _segmentor(aux: bool = True) -> Segmentor:
    head = lambda c, k: FCNHead(c, k)  # noqa: E731
    aux_head = (lambda c, k: FCNHead(c, k, num_convs=1, concat_input=False)) if aux else None
    return Segmentor(TimmBackbone("test_resnet"), head, num_classes=5, aux_head=aux_head)


def test_segmentor_upsamples_once_to_input_size_and_adds_aux_only_in_training() -> None:
    model = _segmentor()
    out = model.train()(torch.rand(2, 3, 72, 56))
    assert set(out) == {"out", "aux"}
    assert out["out"].shape == out["aux"].shape == (2, 5, 72, 56)
    assert set(model.eval()(torch.rand(1, 3, 64, 64))) == {"out"}


def test_segmentor_normalises_with_the_backbone_statistics() -> None:
    model = _segmentor(aux=False).eval()
    assert torch.allclose(model.mean.flatten(), torch.tensor(model.backbone.mean))
    # an image equal to the mean colour reaches the backbone as zeros
    image = model.mean.expand(1, 3, 32, 32).clone()
    seen = {}
    model.backbone.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0]))
    model(image)
    assert torch.allclose(seen["x"], torch.zeros_like(seen["x"]), atol=1e-6)


class EveryStage(nn.Module):
    """A head that declares it reads every stage, and records what it was given."""

    def __init__(self, in_channels: Sequence[int], num_classes: int, *, output_stride: int = 0) -> None:
        super().__init__()
        self.in_channels, self.output_stride = in_channels, output_stride
        self.classifier = nn.Conv2d(in_channels[-1], num_classes, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        self.seen = [f.shape[1] for f in features]
        return self.classifier(features[-1])


class LastStage(nn.Module):
    """A head that declares it reads the last stage, and records what it was given."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.classifier = nn.Conv2d(in_channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.shape[1]
        return self.classifier(x)


def list_head(in_channels: list[int], num_classes: int) -> nn.Module:
    return EveryStage(in_channels, num_classes)


@pytest.mark.parametrize(
    ("head", "every_stage"),
    [
        (EveryStage, True),
        (list_head, True),
        (partial(FPNHead, pyramid_channels=32), True),  # a Hydra _partial_ keeps the signature
        (LastStage, False),
        (FCNHead, False),
        (lambda c, k: FCNHead(c, k), False),  # no annotation: the last stage
    ],
    ids=["Sequence[int]", "list[int]", "partial", "int", "FCNHead", "lambda"],
)
def test_reads_every_stage_follows_the_in_channels_annotation(head, every_stage: bool) -> None:
    assert reads_every_stage(head) is every_stage


def test_a_head_reading_every_stage_gets_the_channel_list_and_the_feature_list() -> None:
    backbone = TimmBackbone("test_resnet", output_stride=16)
    model = Segmentor(backbone, EveryStage, num_classes=5).eval()
    assert model.head.in_channels == backbone.channels
    assert model(torch.rand(1, 3, 64, 64))["out"].shape == (1, 5, 64, 64)
    assert model.head.seen == backbone.channels


def test_a_head_reading_the_last_stage_gets_its_channels_and_features() -> None:
    backbone = TimmBackbone("test_resnet")
    for head in (LastStage, lambda c, k: LastStage(c, k)):
        model = Segmentor(backbone, head, num_classes=5).eval()
        model(torch.rand(1, 3, 64, 64))
        assert model.head.in_channels == model.head.seen == backbone.channels[-1]


@pytest.mark.parametrize("output_stride", [8, 16])
def test_an_output_stride_keyword_receives_the_backbone_stride(output_stride: int) -> None:
    backbone = TimmBackbone("test_resnet", output_stride=output_stride)
    assert derived_kwargs(EveryStage, backbone) == {"output_stride": output_stride}
    assert derived_kwargs(LastStage, backbone) == derived_kwargs(lambda c, k: None, backbone) == {}
    assert Segmentor(backbone, EveryStage, num_classes=5).head.output_stride == output_stride
    # the backbone's stride wins over one the config binds
    assert derived_kwargs(partial(FPNHead, output_stride=32), backbone) == {"output_stride": output_stride}
