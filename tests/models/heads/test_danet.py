"""DANet head: the contract (with the `pam` and `cam` training outputs), its inner width, the authors'
training without an auxiliary head."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from attnseg.models.attention import ChannelAttention, PositionAttention
from attnseg.models.heads import DANetHead
from tests.models.heads.contract import HeadContract, MakeCfg, inner_widths


class TestDANet(HeadContract):
    option, head_class = "danet", DANetHead
    extra_outputs = frozenset({"pam", "cam"})

    def test_inner_width_defaults_to_a_quarter_and_is_configurable(self) -> None:
        assert inner_widths(DANetHead(256, 19)) == {64}
        assert inner_widths(DANetHead(256, 19, channels=32)) == {32}


class TestDANetPAM(HeadContract):
    option, head_class = "danet_pam", DANetHead  # the channel diagnostic's position-only head


class TestDANetCAM(HeadContract):
    option, head_class = "danet_cam", DANetHead  # the channel diagnostic's channel-only head


@pytest.mark.parametrize(
    ("branches", "attention"), [(("pam",), PositionAttention), (("cam",), ChannelAttention)]
)
def test_one_branch_head_builds_and_classifies_only_that_branch(branches, attention) -> None:
    head = DANetHead(32, 3, channels=16, branches=branches).train()
    kinds = {type(m) for m in head.modules()}
    other = ChannelAttention if attention is PositionAttention else PositionAttention
    assert attention in kinds and other not in kinds
    assert not any(
        name.startswith(("pam_classifier", "cam_classifier")) for name, _ in head.named_parameters()
    )
    out = head(
        torch.randn(2, 32, 8, 8)
    )  # one prediction in training too: no second loss on the same features
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3, 8, 8)
    # the branch's own weights decide the output: the other branch's would be absent, not unused
    out.sum().backward()
    assert all(p.grad is not None for p in head.parameters())


def test_both_branches_keep_the_papers_state_dict_keys() -> None:
    keys = {k.split(".")[0] for k in DANetHead(32, 3, channels=16).state_dict()}
    assert keys == {
        "pam_in",
        "pam",
        "pam_out",
        "cam_in",
        "cam",
        "cam_out",
        "classifier",
        "pam_classifier",
        "cam_classifier",
    }


@pytest.mark.parametrize("branches", [(), ("pam", "pam"), ("sam",)])
def test_bad_branches_are_refused_with_the_key(branches) -> None:
    with pytest.raises(ValueError, match=r"head\.branches must be \[pam, cam\], \[pam\] or \[cam\]"):
        DANetHead(32, 3, branches=branches)


def test_authors_training_has_no_aux_head_and_weighs_the_three_outputs_equally(make_cfg: MakeCfg) -> None:
    # what cityscapes_danet_* sets: model.net.aux_head=null, out:pam:cam = 1:1:1
    cfg = make_cfg(
        "head=danet", "model.net.aux_head=null", "+model.loss_weights.pam=1.0", "+model.loss_weights.cam=1.0"
    )
    module = instantiate(cfg.model)
    images, masks = torch.rand(2, 3, 64, 64), torch.randint(0, 6, (2, 64, 64))
    outputs = module.net.train()(images)
    assert set(outputs) == {"out", "pam", "cam"}
    total, losses = module.compute_loss(outputs, masks)
    torch.testing.assert_close(total, losses["out"] + losses["pam"] + losses["cam"])
