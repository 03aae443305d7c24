"""DANet head: the contract (with the `pam` and `cam` training outputs), its inner width, the authors'
training without an auxiliary head."""

from __future__ import annotations

import torch
from hydra.utils import instantiate

from attnseg.models.heads import DANetHead
from tests.models.heads.contract import HeadContract, MakeCfg, inner_widths


class TestDANet(HeadContract):
    option, head_class = "danet", DANetHead
    extra_outputs = frozenset({"pam", "cam"})

    def test_inner_width_defaults_to_a_quarter_and_is_configurable(self) -> None:
        assert inner_widths(DANetHead(256, 19)) == {64}
        assert inner_widths(DANetHead(256, 19, channels=32)) == {32}


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
