"""Every logger (CSV, TensorBoard, MLflow, W&B) gets the same metrics, hyper-parameters and, where it
shows pictures, the pictures; read back from the files each one wrote."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from unittest.mock import create_autospec

import numpy as np
import pytest
import torch
import yaml
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from omegaconf import OmegaConf
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from attnseg.data.synthetic import render_scene
from attnseg.tasks.attention_maps import attention_maps
from attnseg.tasks.evaluate import log_results
from attnseg.tasks.train import train
from attnseg.training.loggers import TRUNCATED, MLFlowLogger, log_image, mlflow_params
from tests.conftest import TINY, compose_config
from tests.wandb_records import read_records, summary_and_history

# MLflow 3 opens a file store only when allowed: MLFlowLogger allows it for its runs, this for the reader
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
RUN_NAME = "fcn-test_resnet-seed42"
FCN = "attnseg.models.heads.FCNHead"


def tensorboard_events(log_dir: Path) -> EventAccumulator:
    events = EventAccumulator(str(log_dir), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


def tensorboard_hparams(events: EventAccumulator) -> dict[str, object]:
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    return {k: getattr(v, v.WhichOneof("kind")) for k, v in hparams.items()}


def tensorboard_picture(events: EventAccumulator, tag: str) -> tuple[int, np.ndarray]:
    (event,) = events.Images(tag)
    return event.step, np.asarray(Image.open(io.BytesIO(event.encoded_image_string)))


def mlflow_run(store: Path):
    """``(client, run)`` of the one run in an MLflow file store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"file:{store}")
    (run,) = client.search_runs([client.get_experiment_by_name("attnseg").experiment_id])
    return client, run


def mlflow_pictures(client, run_id: str, key: str) -> dict[int, np.ndarray]:
    """Step -> picture of the step images ``key`` (``images/<key, / as ~>+step+<step>+...png``)."""
    prefix = "images/" + key.replace("/", "~") + "+step+"
    pictures = {}
    for artifact in client.list_artifacts(run_id, "images"):
        if artifact.path.startswith(prefix) and artifact.path.endswith(".png"):
            local = client.download_artifacts(run_id, artifact.path)
            pictures[int(artifact.path[len(prefix) :].split("+")[0])] = np.asarray(Image.open(local))
    return pictures


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    """One tiny fit and test with every logger, shared by the tests that read what each logger
    wrote: ``(run dir, the metrics train() returned)``."""
    run_dir = tmp_path_factory.mktemp("many_loggers")
    metrics = train(compose_config([*TINY, "head=fcn", "logger=many_loggers"], run_dir))
    GlobalHydra.instance().clear()
    return run_dir, metrics


def test_every_logger_gets_the_same_metrics(run: tuple[Path, dict[str, float]]) -> None:
    run_dir, metrics = run
    rows = list(csv.DictReader((run_dir / "csv" / "version_0" / "metrics.csv").open()))
    keys = set(rows[0]) - {"step"}  # the CSV logger's own column
    assert {"val/miou", "val/iou_crate_red", "train/loss_step", "test/miou", "epoch"} <= keys
    final = {k: float(next(r[k] for r in reversed(rows) if r[k])) for k in ("val/miou", "test/miou")}
    assert final == pytest.approx({k: metrics[k] for k in final})

    events = tensorboard_events(run_dir / "tensorboard" / RUN_NAME)
    assert keys <= set(events.Tags()["scalars"])
    for key, value in final.items():
        assert events.Scalars(key)[-1].value == pytest.approx(value, rel=1e-6)  # float32

    client, mlflow = mlflow_run(run_dir / "mlruns")
    assert keys <= set(mlflow.data.metrics)
    assert {k: mlflow.data.metrics[k] for k in final} == pytest.approx(final)

    (wandb_file,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    summary, history = summary_and_history(wandb_file)
    assert keys <= {k for row in history for k in row}
    assert {k: summary[k] for k in final} == pytest.approx(final)


def test_every_logger_gets_the_same_hyperparameters(run: tuple[Path, dict[str, float]]) -> None:
    run_dir, _ = run
    hparams = yaml.safe_load((run_dir / "csv" / "version_0" / "hparams.yaml").read_text())
    assert hparams["model"]["net"]["head"]["_target_"] == FCN and hparams["seed"] == 42
    flat = mlflow_params(hparams, max_value_length=10**6)

    board = tensorboard_hparams(tensorboard_events(run_dir / "tensorboard" / RUN_NAME))
    assert board.keys() == flat.keys()
    assert board["model/net/head/_target_"] == FCN and board["seed"] == 42

    client, mlflow = mlflow_run(run_dir / "mlruns")
    assert mlflow.data.params == flat
    assert mlflow.data.params["model/net/head/_target_"] == FCN and mlflow.data.params["seed"] == "42"
    # whole, as the CSV logger has it
    whole = yaml.safe_load(Path(client.download_artifacts(mlflow.info.run_id, "hparams.yaml")).read_text())
    assert whole == hparams
    assert mlflow.info.run_name == RUN_NAME
    assert mlflow.data.tags["tags"] == "dev" and mlflow.data.tags["job_type"] == "train"

    (wandb_file,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    config = {
        item.key: yaml.safe_load(item.value_json)
        for record in read_records(wandb_file)
        if record.WhichOneof("record_type") == "config"
        for item in record.config.update
    }
    assert config["model"]["net"]["head"]["_target_"] == FCN and config["seed"] == 42


def test_validation_picture_reaches_every_logger_that_shows_pictures(
    run: tuple[Path, dict[str, float]],
) -> None:
    run_dir, _ = run
    step, board = tensorboard_picture(
        tensorboard_events(run_dir / "tensorboard" / RUN_NAME), "val/predictions"
    )
    assert step == 2  # 8 samples in batches of 4: the one validation follows 2 training steps
    # a row of 3 panels (image, prediction, truth) of 64 px for each of the 4 images
    assert board.shape[2] == 3 and 4 * 64 < board.shape[0] < 4 * 100 and 3 * 64 < board.shape[1] < 3 * 80
    client, mlflow = mlflow_run(run_dir / "mlruns")
    assert mlflow_pictures(client, mlflow.info.run_id, "val/predictions").keys() == {step}
    np.testing.assert_array_equal(mlflow_pictures(client, mlflow.info.run_id, "val/predictions")[step], board)
    # W&B keeps its interactive overlay: the 4 images, each with a predicted and a true mask
    (media,) = (run_dir / "wandb").glob("offline-run-*/files/media/images")
    assert len(list((media / "val").glob("predictions_2_*.png"))) == 4
    assert len(list((media / "mask" / "val").glob("predictions_2_*.mask.png"))) == 8


def test_log_image_sends_each_logger_its_kind_of_picture(tmp_path: Path) -> None:
    board = TensorBoardLogger(tmp_path, name="tb", version=0)
    mlflow = MLFlowLogger("attnseg", f"file:{tmp_path / 'mlruns'}", run_name="r")
    table = CSVLogger(tmp_path, name="csv", version=0)
    wandb = create_autospec(WandbLogger, instance=True)
    picture = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    # an image file name in the key: MLflow refuses "(" in a key
    log_image([board, mlflow, table, wandb], "attention/scene (1)", picture, step=3, caption="query [1, 2]")
    log_image([board, mlflow], "gray", Image.fromarray(picture[..., 0]))  # no step: 0 for all
    for logger in (board, mlflow, table):
        logger.finalize("success")

    events = tensorboard_events(board.log_dir)
    assert tensorboard_picture(events, "attention/scene (1)")[0] == 3
    np.testing.assert_array_equal(tensorboard_picture(events, "attention/scene (1)")[1], picture)
    assert tensorboard_picture(events, "gray")[1].shape == (20, 30, 3)
    client, run = mlflow_run(tmp_path / "mlruns")
    np.testing.assert_array_equal(mlflow_pictures(client, run.info.run_id, "attention/scene _1_")[3], picture)
    assert mlflow_pictures(client, run.info.run_id, "gray").keys() == {0}
    assert not list((tmp_path / "csv").rglob("*.png"))
    wandb.log_image.assert_called_once_with(
        "attention/scene (1)", [picture], step=3, caption=["query [1, 2]"]
    )


def test_mlflow_params_flatten_and_cut_what_mlflow_refuses() -> None:
    params = {
        "model": {"head": {"_target_": FCN, "channels": None}, "empty": {}},
        "classes": ["a", "b"],
        "odd key:(1)": 1,
        "long": "x" * 30,
        "k" * 300: 0,
    }
    with pytest.warns(UserWarning, match=r"cut at 20 characters.*\['long', 'model/head/_target_'\]"):
        flat = mlflow_params(params, max_value_length=20)
    assert flat == {
        "model/head/_target_": FCN[:6] + TRUNCATED,
        "model/head/channels": "None",
        "model/empty": "{}",
        "classes": "['a', 'b']",
        "odd key__1_": "1",
        "long": "x" * 6 + TRUNCATED,
        "k" * 250: "0",
    }
    assert flat["model/head/_target_"] != FCN and all(len(v) <= 20 for v in flat.values())


def test_mlflow_logger_keeps_long_values_and_many_params(tmp_path: Path) -> None:
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    classes = [f"class_{i:03d}" for i in range(150)]  # ADE20K: far over Lightning's 250 characters
    params = {"dataset": {"class_names": classes}, "many": {f"p{i}": i for i in range(250)}}
    params["huge"] = "y" * (MAX_PARAM_VAL_LENGTH + 1)
    logger = MLFlowLogger(
        "attnseg", f"file:{tmp_path / 'mlruns'}", tags={"tags": ["dev", "ablation"], "n": 1}
    )
    with pytest.warns(UserWarning, match=r"\['huge'\]"):
        logger.log_hyperparams(params)
    logger.log_hyperparams({})  # changes nothing: hparams.yaml stays whole
    logger.finalize("success")

    client, run = mlflow_run(tmp_path / "mlruns")
    assert len(run.data.params) == 252
    assert run.data.params["dataset/class_names"] == str(classes) and run.data.params["many/p249"] == "249"
    assert (
        run.data.params["huge"].endswith(TRUNCATED) and len(run.data.params["huge"]) == MAX_PARAM_VAL_LENGTH
    )
    whole = yaml.safe_load(Path(client.download_artifacts(run.info.run_id, "hparams.yaml")).read_text())
    assert whole == params
    assert run.data.tags["tags"] == "dev, ablation" and run.data.tags["n"] == "1"


def test_mlflow_logger_stays_offline_without_being_told(tmp_path: Path, monkeypatch) -> None:
    for name in ("MLFLOW_ALLOW_FILE_STORE", "MLFLOW_DISABLE_TELEMETRY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # a server there would be used
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # and fail at once, not hang
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    logger = MLFlowLogger("attnseg", f"file:{tmp_path / 'mlruns'}")
    logger.log_metrics({"val/miou": 0.5}, step=1)
    logger.finalize("success")
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert mlflow_run(tmp_path / "mlruns")[1].data.metrics == {"val/miou": 0.5}


def test_evaluate_logs_the_confusion_matrix_picture(tmp_path: Path) -> None:
    board = TensorBoardLogger(tmp_path, name="tb", version=0)
    mlflow = MLFlowLogger("attnseg", f"file:{tmp_path / 'mlruns'}")
    confmat = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    Image.fromarray(confmat).save(tmp_path / "confusion_matrix.png")
    per_class = {"a": {"iou": 0.5, "acc": 0.6, "pixels": 10}, "b": {"iou": None, "acc": None, "pixels": 0}}
    results = {"split": "test", "miou": 0.5, "acc": 0.7, "macc": 0.6, "per_class": per_class}
    log_results([board, mlflow], results, OmegaConf.create({"seed": 3}), tmp_path / "confusion_matrix.png")
    board.finalize("success")
    mlflow.finalize("success")

    events = tensorboard_events(board.log_dir)
    np.testing.assert_array_equal(tensorboard_picture(events, "test/confusion_matrix")[1], confmat)
    assert events.Scalars("test/iou_a")[0].value == 0.5 and tensorboard_hparams(events)["seed"] == 3
    client, run = mlflow_run(tmp_path / "mlruns")
    np.testing.assert_array_equal(
        mlflow_pictures(client, run.info.run_id, "test/confusion_matrix")[0], confmat
    )
    assert run.data.metrics == {"test/miou": 0.5, "test/acc": 0.7, "test/macc": 0.6, "test/iou_a": 0.5}
    assert run.data.params == {"seed": "3"}


def test_attention_maps_log_the_picture(tmp_path: Path) -> None:
    cfg = compose_config([*TINY, "head=self_attn"], tmp_path)
    model = instantiate(cfg.model)
    config = OmegaConf.to_container(cfg, resolve=True)
    torch.save({"state_dict": model.state_dict(), "attnseg_config": config}, tmp_path / "model.ckpt")
    GlobalHydra.instance().clear()
    image = tmp_path / "scene (1).png"  # "(" is no character of an MLflow key
    Image.fromarray(render_scene(np.random.default_rng(0), 64)[0]).save(image)
    overrides = [f"ckpt_path={tmp_path / 'model.ckpt'}", f"image='{image}'", "logger=many_loggers"]
    out = tmp_path / "maps"
    (written,) = attention_maps(
        compose_config([*overrides, f"output={out}"], out, config_name="attention_maps")
    )
    GlobalHydra.instance().clear()

    picture = np.asarray(Image.open(written).convert("RGB"))
    (log_dir,) = (out / "tensorboard").iterdir()
    np.testing.assert_array_equal(
        tensorboard_picture(tensorboard_events(log_dir), "attention/scene (1)")[1], picture
    )
    client, run = mlflow_run(out / "mlruns")
    np.testing.assert_array_equal(mlflow_pictures(client, run.info.run_id, "attention/scene _1_")[0], picture)
    (media,) = (out / "wandb").glob("offline-run-*/files/media/images/attention")
    assert len(list(media.glob("scene (1)_*.png"))) == 1
