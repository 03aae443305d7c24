"""The contract every decode head keeps: one tester class that each head's test file reuses.

A head's tests are ``class TestCCNet(HeadContract)`` with the class attributes below set, plus the
tests only that head needs. Every contract test builds the model from ``conf/head/<option>.yaml``
through the composition the train command uses (the ``make_cfg`` fixture, TINY settings), so the
config option, the segmentor's wiring and the head are checked together.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn

from attnseg.models.segmentor import reads_every_stage
from attnseg.tasks.train import train
from attnseg.training.module import SegmentationModule

MakeCfg = Callable[..., DictConfig]
NUM_CLASSES = 6  # the synthetic dataset's
SIZE = 64  # TINY's image size


class HeadContract:
    """Tests every ``conf/head`` option passes. Subclass as ``Test<Head>`` (pytest collects only those)."""

    option: str  # conf/head/<option>.yaml
    head_class: type[nn.Module]
    every_stage: bool = False  # ``in_channels: Sequence[int]``: reads every backbone stage
    logits_stride: int = 8  # the head's logits are at 1/logits_stride of the image on the TINY config
    extra_outputs: frozenset[str] = frozenset()  # training outputs besides "out", each with its own loss
    narrow: tuple[str, ...] = ()  # overrides that keep a wide decoder fast on CPU

    def build(
        self, make_cfg: MakeCfg, *overrides: str
    ) -> tuple[SegmentationModule, torch.Tensor, torch.Tensor]:
        """The module of ``head=<option>`` as train builds it, and a fixed batch of 2 from its dataset."""
        cfg = make_cfg(f"head={self.option}", *self.narrow, *overrides)
        torch.manual_seed(0)
        module = instantiate(cfg.model)
        dataset = instantiate(cfg.dataset.train)
        images, masks = (torch.stack(items) for items in zip(dataset[0], dataset[1], strict=True))
        return module, images, masks

    def head_logits(self, make_cfg: MakeCfg, *overrides: str) -> torch.Tensor:
        """The head's logits in eval (before the segmentor's upsampling) on the fixed batch."""
        module, images, _ = self.build(make_cfg, *overrides)
        return head_outputs(module.net, images, training=False)["out"]

    def test_option_builds_the_head(self, make_cfg: MakeCfg) -> None:
        net = instantiate(make_cfg(f"head={self.option}").model.net)  # the option's own widths
        assert isinstance(net.head, self.head_class)
        assert net.num_classes == NUM_CLASSES
        assert net.every_stage is reads_every_stage(self.head_class) is self.every_stage

    def test_head_outputs_in_training_and_in_eval(self, make_cfg: MakeCfg) -> None:
        module, images, _ = self.build(make_cfg)
        shape = (2, NUM_CLASSES, SIZE // self.logits_stride, SIZE // self.logits_stride)
        shapes = {name: tuple(t.shape) for name, t in head_outputs(module.net, images, training=True).items()}
        assert shapes == dict.fromkeys(("out", *self.extra_outputs), shape)
        assert head_outputs(module.net, images, training=False)["out"].shape == shape

    def test_segmentor_outputs_in_training_and_in_eval(self, make_cfg: MakeCfg) -> None:
        module, images, _ = self.build(make_cfg)
        outputs = module.net.train()(images)
        assert set(outputs) == {"out", "aux", *self.extra_outputs}
        assert all(t.shape == (2, NUM_CLASSES, SIZE, SIZE) for t in outputs.values())
        assert set(module.net.eval()(images)) == {"out"}

    def test_gradient_reaches_every_head_parameter(self, make_cfg: MakeCfg) -> None:
        module, images, masks = self.build(make_cfg)
        head = module.net.head
        closed = [name for name, p in head.named_parameters() if not p.any()]  # gammas, zero-init BNs
        optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
        for opened in (False, True):
            optimizer.zero_grad()
            module.compute_loss(module.net.train()(images), masks)[0].backward()
            silent = [n for n, p in head.named_parameters() if p.grad is None or not p.grad.any()]
            # while the gates are closed the layers behind them get none, but the gates must, or never open
            silent = silent if opened else [n for n in silent if n in closed]
            assert not silent, f"no gradient reaches {silent}"
            optimizer.step()

    def test_loss_of_every_output_decreases_on_a_fixed_batch(self, make_cfg: MakeCfg) -> None:
        module, images, masks = self.build(make_cfg)
        optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
        history = []
        for _ in range(10):
            loss, losses = module.compute_loss(module.net.train()(images), masks)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history.append({name: value.item() for name, value in losses.items()})
        for name in ("out", *self.extra_outputs):
            assert history[-1][name] < 0.5 * history[0][name], (name, [h[name] for h in history])

    def test_trains_through_the_pipeline(self, make_cfg: MakeCfg) -> None:
        metrics = train(make_cfg(f"head={self.option}", *self.narrow, "logger=none"))
        assert torch.isfinite(torch.as_tensor(metrics["train/loss"]))
        assert 0.0 <= float(metrics["test/miou"]) <= 1.0
        for extra in self.extra_outputs:
            assert f"train/loss_{extra}" in metrics, sorted(metrics)


def head_outputs(net: nn.Module, images: torch.Tensor, *, training: bool) -> dict[str, torch.Tensor]:
    """The segmentor's head on the backbone features of ``images``, its output as a dict."""
    net.train(training)
    out = net.head(net.head_input(net.backbone(images)))
    if not training:
        assert isinstance(out, torch.Tensor), f"in eval a head returns the logits only, got {type(out)}"
    return dict(out) if isinstance(out, dict) else {"out": out}


def inner_widths(head: nn.Module) -> set[int]:
    """The input widths of a head's classifiers: its inner width."""
    return {
        m.in_channels for name, m in head.named_modules() if "classifier" in name and isinstance(m, nn.Conv2d)
    }


def assert_refused_at_start(cfg: DictConfig, message: str) -> None:
    """``train(cfg)`` fails with ``message`` before it writes checkpoints or logs."""
    with pytest.raises(InstantiationException, match=message):
        train(cfg)
    output_dir = Path(cfg.paths.output_dir)
    assert not (output_dir / "checkpoints").exists()
    assert not (output_dir / "csv").exists()
