"""attnseg-step-overhead: real processes take turns, both sides train alike, bad input stops it early."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning as L
import pytest
from hydra.utils import instantiate

from attnseg.tools.overhead_processes import Contender, OverheadError
from attnseg.tools.overhead_rounds import Plan, check_ready
from attnseg.tools.plain_loop import PlainTraining
from attnseg.tools.step_overhead import main
from attnseg.tools.turns import param_groups

# a few milliseconds a step; logger=none spares the template W&B's start-up
SMALL = [
    "backbone=test_resnet",
    "dataset.train.image_size=32",
    "dataset.batch_size=2",
    "dataset.train.num_samples=24",
    "logger=none",
]
TURNS = ["--pairs", "1", "--turns", "2", "--warmup-turns", "1", "--turn-steps", "3", "--threads", "1"]


@pytest.mark.slow  # real processes, started fresh: make test-slow
def test_both_sides_take_their_turns_and_the_report_has_its_figures(tmp_path: Path, capsys) -> None:
    result = main([*SMALL, *TURNS, "--no-variants", "--out", str(tmp_path)])
    rows = {row["run"]: row for row in result["rows"]}
    assert set(rows) == {"plain", "template"}
    for row in rows.values():
        # 1 warm-up turn + 2 timed turns of 3 steps each, batch 2
        assert (row["timed_steps"], row["steps_run"], row["images"]) == (6, 9, 12)
        assert row["seconds"] > 0 and row["ms_per_step"] > 0
    # the same weights, data, groups and schedule: the same losses, bit for bit, on the CPU
    assert rows["template"]["loss_diff_vs_plain"] == 0.0
    assert rows["template"]["ratio"] == pytest.approx(
        1 / (1 + rows["template"]["overhead_pct"] / 100), rel=1e-3
    )
    summary = result["summary"]["template"]
    assert summary["overhead_min"] <= summary["overhead_pct"] <= summary["overhead_max"]
    report = (tmp_path / "step_overhead.md").read_text()
    for field in (
        "Template overhead",
        "median of 1 pairs",
        "min..max",
        "| date |",
        "| machine |",
        "torch threads",
    ):
        assert field in report
    assert report in capsys.readouterr().out
    with (tmp_path / "step_overhead.csv").open() as f:
        assert [r["run"] for r in csv.DictReader(f)] == ["plain", "template"]


def _template_optimization(cfg) -> tuple:
    """The optimizer and scheduler Lightning gives the template's module for ``cfg``."""

    class Captured(Exception):
        pass

    class Capture(L.Callback):
        def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            self.optimizer = trainer.optimizers[0]
            self.scheduler = trainer.lr_scheduler_configs[0].scheduler
            raise Captured

    capture = Capture()
    trainer = instantiate(
        cfg.trainer, callbacks=[capture], logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    with pytest.raises(Captured):
        trainer.fit(instantiate(cfg.model), datamodule=instantiate(cfg.dataset))
    return capture.optimizer, capture.scheduler


@pytest.mark.parametrize(
    "overrides",
    [["trainer.max_epochs=3"], ["trainer.max_epochs=3", "trainer.max_steps=20", "optimizer=sgd"]],
    ids=["epochs", "max_steps-sgd"],
)
def test_the_plain_loop_optimizes_like_the_template(make_cfg, single_thread, overrides: list[str]) -> None:
    cfg = make_cfg(*SMALL, *overrides)
    plain = PlainTraining.from_config(cfg)
    optimizer, scheduler = _template_optimization(cfg)
    assert type(plain.optimizer) is type(optimizer) and plain.optimizer.defaults == optimizer.defaults
    assert param_groups(plain.optimizer) == param_groups(optimizer)  # sizes, LRs, every setting
    assert type(plain.scheduler) is type(scheduler)
    assert (plain.scheduler.total_iters, plain.scheduler.power) == (scheduler.total_iters, scheduler.power)


def _contender(name: str, **hello) -> Contender:
    ready = {"threads": 1, "batches": 12, "param_groups": [{"tensors": 4, "elements": 9, "lr": 1e-3}]}
    return Contender(
        name, None, None, Path("unused"), hello={**ready, "total_iters": 60, "device": "cpu", **hello}
    )


@pytest.mark.parametrize(
    ("hello", "message"),
    [
        ({"threads": 2}, "runs 2 torch threads, not 1"),
        ({"batches": 9}, "the first epoch has 9 training batches, 10 are needed"),
        ({"param_groups": [{"tensors": 4, "elements": 9, "lr": 1e-2}]}, "param_groups"),
        ({"total_iters": 59}, "total_iters 59 vs 60"),
    ],
)
def test_the_referee_refuses_sides_that_do_not_train_alike(hello: dict, message: str) -> None:
    plan = Plan([], {}, turns=2, warmup_turns=1, turn_steps=3, threads=1)
    with pytest.raises(OverheadError, match=message):
        check_ready([_contender("plain"), _contender("template", **hello)], plan)


def test_without_turns_given_the_first_epoch_is_filled() -> None:
    plan = Plan([], {}, warmup_turns=1, turn_steps=3, threads=1)
    # 12 batches: 1 warm-up + 2 timed turns of 3 steps, and the template's stop step
    assert check_ready([_contender("plain"), _contender("template")], plan) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["head=nope"], "bad override for the plain loop .*Could not find 'head/nope'"),
        (["--variant", "typo=trainer.max_epoch=3"], "bad override for typo .*trainer.max_epoch"),
        (["++trainer.accumulate_grad_batches=2"], "trainer.accumulate_grad_batches=2: the plain loop runs"),
    ],
)
def test_a_bad_override_stops_it_before_any_process_starts(args: list[str], message: str) -> None:
    with pytest.raises(OverheadError, match=message):
        main([*SMALL, *TURNS, *args])


def test_help_describes_the_pairing(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "plain PyTorch loop" in out and "--variant NAME=OVERRIDES" in out and "--pairs" in out
