"""Sweeps through `python train.py -m`: failure isolation, W&B groups, launchers, Optuna resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict, read_write

from attnseg.config.resolvers import optuna_sqlite, optuna_trials_left
from attnseg.tools import report
from tests.cli import NUMBERED_JOBS, SWEEP_CALLBACK, run_train
from tests.conftest import CONF, TINY, compose_config

ATTENTION_HEADS = ["self_attn", "nonlocal", "danet", "ccnet"]


def _compose(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def test_sweep_group_names_the_multirun(tmp_path: Path) -> None:
    compose_config(["logger=none"], tmp_path)
    node = OmegaConf.create({"group": "${sweep_group:train}"})
    assert node.group == "train"  # a single run
    hydra_cfg = HydraConfig.get()
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.mode = RunMode.MULTIRUN
        hydra_cfg.sweep.dir = "/logs/train/multiruns/2024-05-01_12-00-00"
    assert node.group == "train-2024-05-01_12-00-00"
    GlobalHydra.instance().clear()


def test_optuna_trials_left_counts_finished_trials(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    storage = optuna_sqlite(str(tmp_path / "new" / "study.db"))
    assert storage == f"sqlite:///{tmp_path / 'new' / 'study.db'}"
    assert optuna_trials_left(storage, "s", 5) == 5
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.tell(study.ask(), 0.5)
    study.ask()  # left running, as by a killed search: still to do
    assert optuna_trials_left(storage, "s", 5) == 4
    assert optuna_trials_left(storage, "s", 1) == 0


@pytest.mark.parametrize("launcher", ["local", "slurm"])
def test_launcher_configs_compose(launcher: str) -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    cfg = _compose(f"hydra/launcher={launcher}")
    assert cfg.hydra.launcher._target_.endswith(("LocalLauncher", "SlurmLauncher"))


def test_launcher_folder_resolves_before_hydra_sets_its_config(tmp_path: Path, monkeypatch) -> None:
    # A multirun instantiates its launcher before HydraConfig is set, and submitit resolves
    # hydra.sweep.dir (under paths.log_dir) right then: `python train.py -m hydra/launcher=local`
    # with the default sweep dir failed with "HydraConfig was not set".
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    monkeypatch.chdir(tmp_path)
    cfg = _compose("hydra/launcher=local", "experiment=diag_long_range")
    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)
    assert not HydraConfig.initialized()
    folder = cfg.hydra.launcher.submitit_folder
    assert folder.startswith(f"{tmp_path}/logs/diag_long_range/multiruns/"), folder
    assert cfg.hydra.launcher.tasks_per_node >= 1


def test_hparams_search_config_composes() -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    cfg = _compose("hparams_search=synthetic_optuna")
    sweeper = cfg.hydra.sweeper
    assert sweeper.direction == "maximize" and cfg.optimized_metric == "val/miou"
    assert set(sweeper.params) == {"optimizer.lr", "optimizer.weight_decay", "head.channels"}
    assert OmegaConf.to_container(sweeper, resolve=False)["storage"].startswith("${optuna_sqlite:")


def test_ablation_sweeps_every_attention_head_over_three_seeds() -> None:
    params = _compose("experiment=diag_long_range").hydra.sweeper.params
    assert params.head.split(",") == ["fcn", *ATTENTION_HEADS]
    assert params.seed.split(",") == ["0", "1", "2"]
    missing = [h for h in ATTENTION_HEADS if not (CONF / "head" / f"{h}.yaml").is_file()]
    if missing:
        pytest.skip(f"heads not in conf/head yet: {missing}")
    for head in ["fcn", *ATTENTION_HEADS]:
        _compose("experiment=diag_long_range", f"head={head}")


def test_ablation_fcn_baseline_cannot_see_the_beacon_from_any_crate() -> None:
    # The ablation is only a test of long-range context if the baseline's receptive field is
    # narrower than the dataset's beacon-to-crate gap (0.4 x width, checked in test_data.py).
    cfg = _compose("experiment=diag_long_range", "head=fcn")
    height, width = cfg.dataset.train.image_size
    net = instantiate(cfg.model.net).eval()
    for m in net.modules():  # timm zero-inits the last BN of each block, hiding its conv path
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(m.weight)
    x = torch.randn(1, 3, height, 4 * width, requires_grad=True)
    centre = 2 * width
    net(x)["out"][0, :, height // 2, centre].sum().backward()
    seen = torch.nonzero(x.grad.abs().sum((0, 1, 2))).flatten()
    reach = max(centre - seen.min().item(), seen.max().item() - centre)
    assert 32 < reach < 0.4 * width, f"FCN sees {reach} px sideways; the beacon is >= {0.4 * width} px away"


@pytest.mark.parametrize("head", ["ccnet", "danet", "nonlocal"])
@pytest.mark.parametrize("depth", ["r50", "r101"])
def test_cityscapes_presets_follow_the_paper_recipe(head: str, depth: str) -> None:
    for needed in (CONF / "head" / f"{head}.yaml", CONF / "dataset" / "cityscapes.yaml"):
        if not needed.is_file():
            pytest.skip(f"{needed.relative_to(CONF)} not there yet")
    # what every paper preset shares; each one's own recipe is checked against the docs table
    # in tests/tasks/test_paper_presets.py
    cfg = _compose(f"experiment=cityscapes_{head}_{depth}")
    assert cfg.backbone.name.startswith({"r50": "resnet50", "r101": "resnet101"}[depth])
    assert cfg.hydra.runtime.choices.head == head
    assert cfg.dataset.batch_size * cfg.trainer.devices == 8
    assert cfg.trainer.sync_batchnorm and cfg.backbone.output_stride == 8
    assert cfg.optimizer.lr == 0.01 and cfg.model.head_lr_mult == 1.0


@pytest.mark.slow
def test_multirun_finishes_every_job_and_marks_the_failed_one(tmp_path: Path) -> None:
    # The ablation experiment narrowed to one head; seed=-1 makes the third job fail.
    result = run_train(
        "-m",
        "experiment=diag_long_range",
        *TINY,
        "hydra.sweeper.params.head=fcn",
        "hydra.sweeper.params.seed='0,1,-1'",
        "callbacks.throughput.warmup_steps=0",
        "logger.wandb.group='${sweep_group:${task_name}}'",
        f"hydra.sweep.dir={tmp_path}",
        NUMBERED_JOBS,
        SWEEP_CALLBACK,
    )
    assert result.returncode != 0, "a failed job must fail the multirun"  # after all jobs ran
    assert "Job failed (ValueError: -1 is not in bounds" in result.stdout + result.stderr
    failed = json.loads((tmp_path / "2" / "failed.json").read_text())
    assert "seed=-1" in failed["overrides"] and "Traceback" in failed["traceback"]
    wandb_cfgs = []
    for job in ("0", "1"):
        assert (tmp_path / job / "checkpoints" / "last.ckpt").is_file()
        assert not (tmp_path / job / "failed.json").exists()
        assert len(list((tmp_path / job / "wandb").glob("offline-run-*"))) == 1  # one W&B run per job
        wandb_cfgs.append(yaml.safe_load((tmp_path / job / "config.yaml").read_text())["logger"]["wandb"])
    assert [c["name"] for c in wandb_cfgs] == ["fcn-test_resnet-seed0", "fcn-test_resnet-seed1"]
    assert {c["group"] for c in wandb_cfgs} == {f"diag_long_range-{tmp_path.name}"}

    rows = report.main([str(tmp_path), "--size", "64", "--no-wandb"])
    assert len(rows) == 1 and [r.ok for r in rows[0].runs] == [True, True, False]
    assert rows[0].stats["images_per_s"][0] > 0 and rows[0].cost["head_params"] > 0
    table = (tmp_path / "report.md").read_text()
    assert "| fcn | test_resnet | 2/3 |" in table and "- `2`: ValueError" in table
    assert (tmp_path / "report.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_submitit_local_launcher_runs_the_jobs_as_parallel_processes(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    result = run_train(
        "-m",
        "hydra/launcher=local",
        *TINY,
        "logger=csv",
        "test=false",
        "seed=0,1",
        f"hydra.sweep.dir={tmp_path}",
        NUMBERED_JOBS,
        SWEEP_CALLBACK,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for job in ("0", "1"):
        assert (tmp_path / job / "checkpoints" / "last.ckpt").is_file()
        assert (tmp_path / job / "csv" / "version_0" / "metrics.csv").is_file()
    # one submitit job (own process id, own log) per sweep job
    results = list((tmp_path / ".submitit").glob("*/*_result.pkl"))
    assert len({p.parent.name for p in results}) == 2


@pytest.mark.slow
def test_optuna_search_resumes_an_interrupted_study(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    # an interrupted search: one finished trial, one left running
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="synthetic_fcn", storage=storage, direction="maximize")
    study.tell(study.ask({"optimizer.lr": optuna.distributions.LogUniformDistribution(0.002, 0.05)}), 0.01)
    study.ask()
    result = run_train(
        "-m",
        "hparams_search=synthetic_optuna",
        *TINY,
        "head=fcn",  # the study is named after the head: synthetic_fcn
        "logger=csv",
        "test=false",
        "optuna_trials=2",
        f"hydra.sweeper.storage='${{optuna_sqlite:{tmp_path / 'study.db'}}}'",
        f"hydra.sweep.dir={tmp_path / 'resumed'}",
        NUMBERED_JOBS,
        SWEEP_CALLBACK,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert [p.name for p in (tmp_path / "resumed").iterdir() if p.is_dir()] == ["0"]  # one trial ran
    trials = optuna.load_study(study_name="synthetic_fcn", storage=storage).trials
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(trials) == 3 and len(done) == 2
    assert set(done[-1].params) == {"optimizer.lr", "optimizer.weight_decay", "head.channels"}
    assert (tmp_path / "resumed" / "optimization_results.yaml").is_file()
