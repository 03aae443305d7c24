"""SegmentationModule's example input: the FLOPs that Lightning's model summary prints."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.utilities.model_summary import ModelSummary

from attnseg.tools.cost import head_cost


@pytest.mark.parametrize(
    ("overrides", "size"),
    [
        ([], [64, 320]),  # the synthetic scenes: the whole image
        (["experiment=diag_two_passes"], 240),
        (["dataset=cityscapes"], [512, 1024]),  # native-size images: the train crop
        (["experiment=cityscapes_769"], [769, 769]),
        (["dataset=ade20k"], [512, 512]),  # image_size is the shorter side there: the crop wins
        (["dataset=cityscapes", "dataset.train.transforms=null"], None),  # no one size: no FLOPs
    ],
    ids=["synthetic", "diag_two_passes", "cityscapes", "cityscapes_769", "ade20k", "cityscapes_no_crop"],
)
def test_example_input_is_one_training_input(make_cfg, overrides: list[str], size) -> None:
    assert make_cfg(*overrides, tiny=False).model.example_input_size == size


def test_summary_counts_the_flops_of_one_training_input(make_cfg) -> None:
    model = instantiate(make_cfg("dataset.train.image_size=[48,96]").model)
    assert model.example_input_array.shape == (1, 3, 48, 96)
    flops = ModelSummary(model, max_depth=1).total_flops
    assert flops > 0
    assert flops == round(head_cost(model.net, (48, 96), repeats=1)["gflops"] * 1e9)


def test_summary_forward_leaves_rng_batchnorm_and_train_mode_alone(make_cfg) -> None:
    model = instantiate(make_cfg().model)  # one side (64): a square
    assert model.example_input_array.shape == (1, 3, 64, 64)
    state = {name: value.clone() for name, value in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    rng = torch.get_rng_state()
    ModelSummary(model, max_depth=2)
    assert torch.equal(torch.get_rng_state(), rng)
    assert [m.training for m in model.modules()] == modes
    assert all(torch.equal(value, state[name]) for name, value in model.state_dict().items())


def test_no_size_no_example_input_and_a_bad_size_is_refused(make_cfg) -> None:
    build = instantiate(make_cfg().model, _partial_=True)
    assert build(example_input_size=None).example_input_array is None
    with pytest.raises(ValueError, match=r"example_input_size must be .* got \[64, 64, 3\]"):
        build(example_input_size=[64, 64, 3])
