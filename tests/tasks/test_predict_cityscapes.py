"""writer=cityscapes: a test-server submission the official evaluator (cityscapesscripts) accepts.

The evaluator runs unchanged, as its command-line tool does (``csEvalPixelLevelSemanticLabeling``
with ``CITYSCAPES_DATASET`` / ``CITYSCAPES_RESULTS``), in a subprocess on a miniature Cityscapes
tree of real PNG files. cityscapesscripts 2.3 still calls ``np.in1d``, which NumPy 2.4 removed:
the subprocess aliases it to ``np.isin`` first, the only change.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from attnseg.data.cityscapes import LABEL_ID_LUT, LABEL_IDS, TRAIN_IDS
from attnseg.inference.checkpoint import build_model, load_checkpoint, run_config
from attnseg.inference.images import list_images, predict_image, read_image
from attnseg.inference.modes import SegmentationInference
from attnseg.inference.writers import MaskAndOverlay, cityscapes_submission
from attnseg.tasks.predict import predict
from tests.conftest import ROOT, compose_config

pytest.importorskip("cityscapesscripts", reason="the official evaluator: pip install cityscapesscripts")

H, W = 12, 66
# one stripe per id: the 19 evaluated label ids and three ignored ones (unlabeled, ego vehicle, static)
STRIPES = [*sorted(TRAIN_IDS), 0, 1, 4]
FRAMES = {"val": ["frankfurt_000000_000294", "frankfurt_000001_000538", "lindau_000000_000019"]}
FRAMES["test"] = ["berlin_000000_000019", "berlin_000001_000019", "bonn_000000_000019", "mainz_000002_000019"]
EVALUATOR = (
    "import numpy\n"
    "numpy.in1d = getattr(numpy, 'in1d', numpy.isin)  # removed in NumPy 2.4\n"
    "from cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling import main\n"
    "main()\n"
)


def label_ids(index: int) -> np.ndarray:
    """(H, W) label ids: the stripes, shifted per frame so that frames differ."""
    columns = np.roll(np.repeat(np.array(STRIPES, np.uint8), W // len(STRIPES)), 5 * index)
    return np.tile(columns, (H, 1))


def make_tree(root: Path) -> Path:
    """leftImg8bit/{val,test}/<city>/ images; gtFine/val/<city>/ labelIds and instanceIds (the
    evaluator reads both; no instances here, so they are the label ids); no labels for test."""
    for split, frames in FRAMES.items():
        for index, frame in enumerate(frames):
            city = frame.split("_")[0]
            rng = np.random.default_rng(index)
            image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            (root / "leftImg8bit" / split / city).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / "leftImg8bit" / split / city / f"{frame}_leftImg8bit.png")
            if split == "val":
                (root / "gtFine" / split / city).mkdir(parents=True, exist_ok=True)
                for kind in ("labelIds", "instanceIds"):
                    Image.fromarray(label_ids(index)).save(
                        root / "gtFine" / split / city / f"{frame}_gtFine_{kind}.png"
                    )
    return root


def official_evaluation(root: Path, predictions: Path, export: Path) -> tuple[int, str, dict | None]:
    """Exit status, output and result JSON of cityscapesscripts' pixel-level evaluator on gtFine/val."""
    env = {
        **os.environ,
        "CITYSCAPES_DATASET": str(root),
        "CITYSCAPES_RESULTS": str(predictions),
        "CITYSCAPES_EXPORT_DIR": str(export),
        "OMP_NUM_THREADS": "1",
    }
    export.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", EVALUATOR], env=env, capture_output=True, text=True, timeout=120
    )
    result = export / "resultPixelLevelSemanticLabeling.json"
    return (
        done.returncode,
        done.stdout + done.stderr,
        json.loads(result.read_text()) if result.is_file() else None,
    )


def write_val_predictions(root: Path, writer, output: Path) -> None:
    """Predictions equal to the ground truth's train ids, through ``writer``; ignored pixels get
    class 0, which the evaluator must not count."""
    images = list_images(root / "leftImg8bit" / "val", recursive=True)
    writer.prepare(images, output)
    for index, path in enumerate(images):
        train_ids = LABEL_ID_LUT[label_ids(index)].astype(np.uint8)
        train_ids[train_ids == 255] = 0
        writer.write(output, path, read_image(path), train_ids)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tree(tmp_path_factory.mktemp("cityscapes"))


def test_official_evaluator_scores_the_ground_truth_100(tree: Path, tmp_path: Path) -> None:
    write_val_predictions(tree, cityscapes_submission(num_classes=19), tmp_path / "sub")
    frames = sorted(f"{frame}_leftImg8bit.png" for frame in FRAMES["val"])
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == frames  # nothing else
    status, output, result = official_evaluation(tree, tmp_path / "sub", tmp_path / "export")
    assert status == 0, output
    scores = {name: iou for name, iou in result["classScores"].items() if not np.isnan(iou)}
    assert len(scores) == 19 and set(scores.values()) == {1.0}  # every evaluated class present
    assert result["averageScoreClasses"] == 1.0


def test_official_evaluator_rejects_the_default_writers_folder(tree: Path, tmp_path: Path) -> None:
    # the issue: masks and overlays side by side, both matching <city>_<seq>_<frame>*.png
    write_val_predictions(tree, MaskAndOverlay([[0, 0, 0]] * 19), tmp_path / "out")
    status, output, _ = official_evaluation(tree, tmp_path / "out", tmp_path / "export")
    assert status != 0 and "Found multiple predictions" in output
    # and the masks alone hold train ids, which the evaluator reads as (mostly other) label ids
    for overlay in (tmp_path / "out").glob("*_overlay.png"):
        overlay.unlink()
    status, output, result = official_evaluation(tree, tmp_path / "out", tmp_path / "export")
    assert status == 0, output
    assert result["averageScoreClasses"] < 0.1


def fake_checkpoint(path: Path, *overrides: str) -> Path:
    """An untrained model saved the way train.py saves one (weights + resolved config)."""
    cfg = compose_config(["backbone=test_resnet", "head=fcn", *overrides], path.parent)
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    config = OmegaConf.to_container(cfg, resolve=True)
    torch.save({"state_dict": model.state_dict(), "attnseg_config": config}, path)
    GlobalHydra.instance().clear()
    return path


@pytest.fixture(scope="module")
def ckpt(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "cityscapes.ckpt"
    return fake_checkpoint(path, "dataset=cityscapes", f"dataset.root={tree}")


def predict_cfg(ckpt: Path, source: Path, output: Path, *overrides: str) -> DictConfig:
    overrides = (f"ckpt_path={ckpt}", f"input={source}", f"output={output}", "writer=cityscapes", *overrides)
    return compose_config(list(overrides), output.parent, config_name="predict")


def test_predict_on_the_unlabelled_test_split_writes_one_label_id_png_per_image(
    tree: Path, ckpt: Path, tmp_path: Path
) -> None:
    test = tree / "leftImg8bit" / "test"  # city folders, no gtFine/test: predict needs images only
    written = predict(predict_cfg(ckpt, test, tmp_path / "sub"))
    names = sorted(f"{frame}_leftImg8bit.png" for frame in FRAMES["test"])
    assert sorted(p.name for p in written) == names
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == names  # and nothing else

    checkpoint = load_checkpoint(ckpt)
    model = build_model(run_config(checkpoint), checkpoint, ckpt)
    lut = np.vectorize(LABEL_IDS.get)
    for path in list_images(test, recursive=True):
        image = read_image(path)
        train_ids = predict_image(model, SegmentationInference(crop_size=512), image, torch.device("cpu"))
        with Image.open(tmp_path / "sub" / path.name) as png:
            assert png.mode == "L" and png.size == (W, H)
            np.testing.assert_array_equal(np.asarray(png), lut(train_ids))


def test_predicted_val_split_is_accepted_by_the_official_evaluator(
    tree: Path, ckpt: Path, tmp_path: Path
) -> None:
    predict(predict_cfg(ckpt, tree / "leftImg8bit" / "val", tmp_path / "sub"))
    status, output, result = official_evaluation(tree, tmp_path / "sub", tmp_path / "export")
    assert status == 0, output
    assert 0.0 <= result["averageScoreClasses"] < 1.0  # an untrained model's score, but a score


def test_command_line_defaults_walk_the_cities_into_a_submission_folder(
    tree: Path, ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no recursive= and no output=: writer=cityscapes sets both; the run directory keeps .hydra/
    argv = ["predict.py", f"ckpt_path={ckpt}", "writer=cityscapes", f"input={tree / 'leftImg8bit' / 'test'}"]
    monkeypatch.setattr(sys, "argv", [*argv, f"hydra.run.dir={tmp_path / 'run'}"])
    GlobalHydra.instance().clear()
    runpy.run_path(str(ROOT / "predict.py"), run_name="__main__")
    assert (tmp_path / "run" / ".hydra" / "config.yaml").is_file()
    names = sorted(f"{frame}_leftImg8bit.png" for frame in FRAMES["test"])
    assert sorted(p.name for p in (tmp_path / "run" / "submission").iterdir()) == names


def test_a_model_of_other_classes_is_refused(tree: Path, tmp_path: Path) -> None:
    other = fake_checkpoint(tmp_path / "synthetic.ckpt")  # the default dataset: 6 synthetic classes
    message = r"writer=cityscapes: the checkpoint predicts 6 classes, the cityscapes format has ids for 19"
    with pytest.raises(InstantiationException, match=message):
        predict(predict_cfg(other, tree / "leftImg8bit" / "test", tmp_path / "sub"))
    assert not (tmp_path / "sub").exists()


def test_list_images_walks_sub_folders_only_when_asked(tree: Path, tmp_path: Path) -> None:
    test = tree / "leftImg8bit" / "test"
    found = list_images(test, recursive=True)
    assert [p.relative_to(test).as_posix() for p in found] == sorted(
        f"{frame.split('_')[0]}/{frame}_leftImg8bit.png" for frame in FRAMES["test"]
    )
    with pytest.raises(FileNotFoundError, match=r"has no images .*it has sub-folders: recursive=true"):
        list_images(test)
    assert list_images(test / "berlin") == sorted((test / "berlin").iterdir())
    # a split assembled from symlinked city folders, as the dataset loaders accept
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "bonn").symlink_to(test / "bonn", target_is_directory=True)
    assert [p.name for p in list_images(tmp_path / "linked", recursive=True)] == [
        "bonn_000000_000019_leftImg8bit.png"
    ]
