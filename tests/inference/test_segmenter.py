"""Segmenter: the README example, masks as attnseg-predict's, input forms, attention maps, bad input.

The checkpoint is an untrained tiny CCNet saved the way train.py saves one, with its attention
switched on (``gamma`` 0.5) and its own class names and palette: it predicts several classes
(a one-epoch model predicts only background, which would make equal masks prove little) and
shows that names and colours come from the checkpoint, not from conf/.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from attnseg.data.synthetic import render_scene
from attnseg.inference.modes import SegmentationInference
from attnseg.inference.segmenter import ATTENTION_MAX_SIZE, Segmenter
from attnseg.models.attention.capture import capture_attention, query_row
from attnseg.tasks.predict import predict
from attnseg.viz.masks import blend
from tests.conftest import CONF, ROOT, TINY, compose_config

NAMES = ["sky", "road", "car", "tree", "person", "sign"]
PALETTE = [[10, 20, 30], [200, 0, 0], [0, 200, 0], [0, 0, 200], [250, 250, 0], [90, 0, 90]]
RUN = Path("logs/train/runs/2000-01-01_00-00-00")  # where `make train` puts a run, as the README reads it
MARKER = "# README example: tests/inference/test_segmenter.py runs this block"
CCNET = "head.attention"  # the path of CCHead's criss-cross module


def save_checkpoint(overrides: list[str], path: Path) -> Path:
    """An untrained model saved the way train.py saves one (weights + resolved config)."""
    cfg = compose_config([*TINY, *overrides], path.parent)
    GlobalHydra.instance().clear()
    torch.manual_seed(0)
    model = instantiate(cfg.model).eval()
    for name, param in model.named_parameters():
        if name.endswith(".gamma"):  # switch attention on, as training would
            param.data.fill_(0.5)
    vary_classifier(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"state_dict": model.state_dict(), "attnseg_config": OmegaConf.to_container(cfg, resolve=True)}, path
    )
    return path


def vary_classifier(model: torch.nn.Module) -> None:
    """A random classifier centred on the mean feature of a scene, so that masks hold several classes."""
    classifier = model.net.head.classifier
    seen = []
    handle = classifier.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    with torch.no_grad():
        model(torch.from_numpy(scene()).permute(2, 0, 1)[None].float() / 255)
        handle.remove()
        classifier.weight.normal_(generator=torch.Generator().manual_seed(0))
        classifier.bias.copy_(-classifier.weight.flatten(1) @ seen[0].mean(dim=(0, 2, 3)))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding a training run, as the one `make train` ran in."""
    base = tmp_path_factory.mktemp("segmenter")
    palette = ",".join(f"[{r},{g},{b}]" for r, g, b in PALETTE)
    overrides = ["head=ccnet", f"dataset.class_names=[{','.join(NAMES)}]", f"dataset.palette=[{palette}]"]
    save_checkpoint(overrides, base / RUN / "checkpoints" / "last.ckpt")
    return base


@pytest.fixture(scope="module")
def ckpt(workdir: Path) -> Path:
    return workdir / RUN / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def segmenter(ckpt: Path) -> Segmenter:
    return Segmenter.from_checkpoint(ckpt, device="cpu")


def scene(size: tuple[int, int] = (67, 93)) -> np.ndarray:
    return render_scene(np.random.default_rng(0), size)[0]


def readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    marked = [block for block in blocks if block.startswith(MARKER)]
    assert len(marked) == 1, f"README.md has one python block starting with {MARKER!r}"
    return marked[0]


def test_readme_example_runs(workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(workdir)
    exec(compile(readme_example(), "README.md", "exec"), {"__name__": "readme_example"})
    printed = capsys.readouterr().out
    assert f"'{NAMES[0]}':" in printed  # the checkpoint's class names
    assert f"{CCNET} pass 1 (1, 90, 120) 1.0" in printed and f"{CCNET} after 2 passes" in printed
    with Image.open(workdir / "overlay.png") as overlay:
        assert overlay.size == (120, 90)


@pytest.mark.parametrize("window", [None, 48], ids=["predict_defaults", "sliding_window"])
def test_masks_are_attnseg_predicts(ckpt: Path, window: int | None, tmp_path: Path) -> None:
    path = tmp_path / "odd.png"
    Image.fromarray(scene()).save(path)
    own = [f"inference.crop_size={window}"] if window else []  # else conf/predict.yaml's
    cfg = compose_config(
        [f"ckpt_path={ckpt}", f"input={path}", f"output={tmp_path}", *own], tmp_path, "predict"
    )
    predict(cfg)
    GlobalHydra.instance().clear()
    expected = np.asarray(Image.open(tmp_path / "odd_mask.png"))
    inference = SegmentationInference(crop_size=window) if window else None
    mask = Segmenter.from_checkpoint(ckpt, device="cpu", inference=inference).predict(path)
    assert mask.dtype == np.uint8 and mask.shape == (67, 93)  # the image's own, odd size
    assert len(np.unique(mask)) > 1, "a constant mask would make the comparison vacuous"
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_array_pil_and_path_give_the_same_mask(segmenter: Segmenter, mode: str, tmp_path: Path) -> None:
    rgb = scene()
    pil = Image.fromarray(rgb).convert(mode)
    if mode == "RGBA":
        pil.putalpha(Image.fromarray(np.arange(67 * 93, dtype=np.uint8).reshape(67, 93)))  # alpha is dropped
    pil.save(tmp_path / "image.png")
    array = np.asarray(pil)
    expected = segmenter.predict(np.asarray(pil.convert("RGB")))
    forms = [array, pil, tmp_path / "image.png", str(tmp_path / "image.png")]
    if mode == "L":
        forms.append(array[..., None])  # (H, W, 1)
    for form in forms:
        np.testing.assert_array_equal(segmenter.predict(form), expected)
    assert len(np.unique(expected)) > 1


def test_probabilities_agree_with_the_mask(segmenter: Segmenter, ckpt: Path) -> None:
    image = scene()
    probs = segmenter.predict_proba(image)
    assert probs.shape == (len(NAMES), 67, 93) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(probs.argmax(0), segmenter.predict(image))
    views = SegmentationInference(scales=[0.75, 1.0], flip=True)  # already probabilities: no second softmax
    tta = Segmenter.from_checkpoint(ckpt, device="cpu", inference=views)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    np.testing.assert_allclose(tta.predict_proba(image), views(tta.model, x)[0].numpy(), atol=1e-6)


def test_class_names_and_palette_come_from_the_checkpoint(segmenter: Segmenter) -> None:
    assert segmenter.class_names == NAMES
    assert segmenter.palette == [tuple(color) for color in PALETTE]
    image = scene()
    mask = segmenter.predict(image)
    colors = segmenter.colorize(mask)
    assert colors.shape == (67, 93, 3) and colors.dtype == np.uint8
    np.testing.assert_array_equal(colors, np.asarray(PALETTE, np.uint8)[mask])
    np.testing.assert_array_equal(segmenter.overlay(image, alpha=0.3), blend(image, colors, 0.3))
    assert repr(segmenter) == "Segmenter(CCHead, 6 classes, device=cpu)"


def cell_of(pixel: int, size: int, cells: int) -> int:
    return pixel * cells // size


def test_attention_maps_at_image_size(segmenter: Segmenter) -> None:
    image = scene()
    points = [(0, 0), (33, 47), (66, 92)]
    maps = segmenter.attention(image, points)
    assert set(maps) == {f"{CCNET} pass 1", f"{CCNET} after 2 passes"}
    for heat in maps.values():
        assert heat.shape == (3, 67, 93) and heat.dtype == np.float32 and (heat >= 0).all()
        np.testing.assert_allclose(heat.sum(axis=(1, 2)), 1.0, atol=1e-4)  # attention rows sum to 1

    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    ((first, (h, w)), (second, _)) = capture_attention(segmenter.model.net, x)[CCNET]
    rows, cols = [cell_of(i, 67, h) for i in range(67)], [cell_of(j, 93, w) for j in range(93)]
    for k, (y, x_) in enumerate(points):
        index = cell_of(y, 67, h) * w + cell_of(x_, 93, w)
        cross = np.zeros((67, 93), bool)  # the pixels of the query's row and column of cells
        cross[np.equal(rows, rows[y])] = True
        cross[:, np.equal(cols, cols[x_])] = True
        pass1 = maps[f"{CCNET} pass 1"][k]
        assert (pass1[~cross] == 0).all() and (pass1[cross] > 0).all()
        after = maps[f"{CCNET} after 2 passes"][k]
        assert (after > 0).all()  # two criss-cross passes reach every pixel
        # per cell, the map holds the row of A_2 A_1 spread over the cell's pixels
        product = query_row([first[0], second[0]], index).view(h, w).numpy()
        per_cell = np.zeros((h, w))
        np.add.at(per_cell, (np.asarray(rows)[:, None], np.asarray(cols)[None, :]), after)
        np.testing.assert_allclose(per_cell, product, rtol=1e-4, atol=1e-7)


def test_attention_of_a_shrunk_image_is_at_the_image_size(segmenter: Segmenter) -> None:
    assert OmegaConf.load(CONF / "attention_maps.yaml").max_size == ATTENTION_MAX_SIZE
    maps = segmenter.attention(Image.fromarray(scene((90, 120))), [(89, 119)], max_size=40)
    for heat in maps.values():
        assert heat.shape == (1, 90, 120)
        np.testing.assert_allclose(heat.sum(), 1.0, atol=1e-4)


def test_model_without_attention_is_refused(tmp_path: Path) -> None:
    model = instantiate(compose_config([*TINY, "head=fcn"], tmp_path).model)
    GlobalHydra.instance().clear()
    fcn = Segmenter(model, NAMES, PALETTE, device="cpu")
    with pytest.raises(ValueError, match=r"attention: the model \(FCNHead\) has no attention module"):
        fcn.attention(scene(), [(1, 1)])


@pytest.mark.parametrize(
    ("image", "error", "message"),
    [
        (
            np.zeros((8, 8, 3), np.float32),
            ValueError,
            r"image: got a float32 array of shape \(8, 8, 3\); expected uint8",
        ),
        (
            np.zeros((3, 8, 8), np.uint8),
            ValueError,
            r"got a uint8 array of shape \(3, 8, 8\); expected an RGB .* channels last",
        ),
        (
            np.zeros((1, 8, 8, 3), np.uint8),
            ValueError,
            r"shape \(1, 8, 8, 3\); expected an RGB uint8 array \(H, W, 3\)",
        ),
        (np.zeros((0, 8, 3), np.uint8), ValueError, r"shape \(0, 8, 3\); expected"),
        (
            torch.zeros(8, 8, 3),
            TypeError,
            r"image: got a torch\.Tensor; expected .*a PIL image or an image file path",
        ),
        ([[0, 0, 0]], TypeError, r"image: got a builtins\.list; expected"),
        ("no/such.png", FileNotFoundError, r"image: no such file 'no/such\.png'; expected"),
    ],
    ids=["float", "channels_first", "batch", "empty", "tensor", "list", "missing"],
)
def test_bad_image_is_named(segmenter: Segmenter, image: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        segmenter.predict(image)


def test_bad_file_points_alpha_and_settings_are_named(
    segmenter: Segmenter, ckpt: Path, tmp_path: Path
) -> None:
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(
        ValueError, match=r"^image: cannot read '.*notes\.png' as an image .*expected an image file"
    ):
        segmenter.predict(tmp_path / "notes.png")
    image = scene()
    for points, shown in [
        ([(67, 0)], r"\(67, 0\)"),
        ([(1, 2, 3)], r"\(1, 2, 3\)"),
        ([(1.5, 2)], r"\(1\.5, 2\)"),
    ]:
        with pytest.raises(
            ValueError, match=rf"points: {shown} is not a \(y, x\) pixel of the image \(size 67x93\)"
        ):
            segmenter.attention(image, points)
    with pytest.raises(ValueError, match=r"points: got \[\]; expected a list of \(y, x\) pixels"):
        segmenter.attention(image, [])
    with pytest.raises(ValueError, match=r"alpha: got 2; expected an opacity between 0 and 1"):
        segmenter.overlay(image, alpha=2)
    with pytest.raises(
        ValueError, match=r"mask: got shape \(8, 8\); expected the image's \(H, W\) = \(67, 93\)"
    ):
        segmenter.overlay(image, np.zeros((8, 8), np.uint8))
    with pytest.raises(
        TypeError, match=r"inference: got \{'crop_size': 64\}; expected None or an .*SegmentationInference"
    ):
        Segmenter.from_checkpoint(ckpt, inference={"crop_size": 64})


def test_package_exports_segmenter_and_stays_cheap_to_import() -> None:
    import attnseg.inference

    assert attnseg.inference.Segmenter is Segmenter
    code = (
        "import sys, attnseg.inference\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'lightning', 'hydra', 'PIL'})\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
