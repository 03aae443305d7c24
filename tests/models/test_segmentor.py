"""Backbone dilation, segmentor outputs, heads."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnseg.models import Segmentor, TimmBackbone
from attnseg.models.heads import FCNHead


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


def test_fcn_head_defaults_to_a_quarter_of_the_input_channels() -> None:
    head = FCNHead(2048, 19)
    assert head.classifier.in_channels == 512
    assert head(torch.rand(1, 2048, 4, 4)).shape == (1, 19, 4, 4)
