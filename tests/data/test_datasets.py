"""Real-dataset layouts on miniature trees of real PNG/JPEG files: pairing, label mapping, checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from hydra.utils import instantiate
from PIL import Image
from torchvision import tv_tensors

from attnseg.data import ADE20K, Cityscapes, FolderSegmentation, PascalVOC
from attnseg.data.augment import PhotometricDistortion
from attnseg.data.voc import voc_colormap
from tests.conftest import CONF
from tests.data.layouts import (
    FOLDER_RGB,
    TRAIN_IDS,
    H,
    W,
    colour_image,
    make_ade20k,
    make_cityscapes,
    make_folder,
    make_voc,
    quadrants,
    save,
)

# ---- samples found and labels mapped ----


def test_cityscapes_maps_label_ids_to_train_ids(tmp_path: Path) -> None:
    ds = Cityscapes(make_cityscapes(tmp_path), "train")
    assert len(ds) == 3
    assert [p[0].parent.name for p in ds.pairs] == ["aachen", "aachen", "bochum"]
    image, mask = ds[0]
    assert image.shape == (3, H, W) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert mask.dtype == torch.int64
    assert torch.equal(mask, torch.from_numpy(quadrants(TRAIN_IDS)).long())


def test_cityscapes_label_table_is_the_official_one() -> None:
    # every one of the 34 label ids, against cityscapesScripts' own table (a test dependency)
    official = pytest.importorskip("cityscapesscripts.helpers.labels")
    from attnseg.data.cityscapes import LABEL_ID_LUT

    expected = {
        label.id: label.trainId if 0 <= label.trainId < 19 else 255
        for label in official.labels
        if label.id >= 0
    }
    assert {i: int(LABEL_ID_LUT[i]) for i in expected} == expected


def test_cityscapes_uses_label_train_ids_when_present(tmp_path: Path) -> None:
    root = make_cityscapes(tmp_path, {"val": 1})
    train_ids = save(
        root / "gtFine/val/aachen/aachen_000000_000019_gtFine_labelTrainIds.png", quadrants((1, 2, 3, 255))
    )
    ds = Cityscapes(root, "val")
    assert ds.pairs[0][1] == train_ids
    assert torch.equal(ds[0][1], torch.from_numpy(quadrants((1, 2, 3, 255))).long())


def test_voc_reads_palette_pngs_as_indices(tmp_path: Path) -> None:
    root = make_voc(tmp_path)
    mask_file = root / "VOCdevkit/VOC2012/SegmentationClass/2007_000032.png"
    assert Image.open(mask_file).mode == "P"
    ds = PascalVOC(root, "train")
    assert [p[0].stem for p in ds.pairs] == ["2007_000032", "2007_000039", "2007_000063"]
    assert torch.equal(ds[0][1], torch.from_numpy(quadrants((0, 15, 255, 15))).long())


def test_voc_sbd_augmented_list(tmp_path: Path) -> None:
    root = make_voc(tmp_path)
    voc = root / "VOCdevkit/VOC2012"
    for name in ("2008_000001", "2008_000002"):
        save(voc / "JPEGImages" / f"{name}.jpg", colour_image(quadrants((0, 3, 3, 0))))
        save(voc / "SegmentationClassAug" / f"{name}.png", quadrants((0, 3, 3, 0)))  # 8-bit "L" masks
    # an id per line, or the DeepLab-style "image mask" pair of paths
    lines = ["2008_000001", "/JPEGImages/2008_000002.jpg /SegmentationClassAug/2008_000002.png"]
    (voc / "ImageSets/Segmentation/train_aug.txt").write_text("\n".join(lines) + "\n")
    ds = PascalVOC(root, "train_aug", mask_dir="SegmentationClassAug")
    assert len(ds) == 2 and set(ds[1][1].unique().tolist()) == {0, 3}
    with pytest.raises(
        FileNotFoundError,
        match=r"no split list .*trainaug.txt; available lists: \['train', 'train_aug', 'val'\]",
    ):
        PascalVOC(root, "trainaug", mask_dir="SegmentationClassAug")


def test_ade20k_ignores_zero_and_shifts_classes_down(tmp_path: Path) -> None:
    ds = ADE20K(make_ade20k(tmp_path), "validation")
    assert len(ds) == 2
    assert torch.equal(ds[1][1], torch.from_numpy(quadrants((255, 0, 149, 12))).long())


def test_folder_index_masks(tmp_path: Path) -> None:
    ds = FolderSegmentation(make_folder(tmp_path), "train", num_classes=3)
    assert [p[0].name for p in ds.pairs] == ["img_0.jpg", "img_1.jpg", "img_2.jpg"]
    assert torch.equal(ds[2][1], torch.from_numpy(quadrants((0, 1, 2, 255))).long())


def test_folder_rgb_masks_map_colours_to_classes(tmp_path: Path) -> None:
    ds = FolderSegmentation(make_folder(tmp_path, "rgb"), "val", **FOLDER_RGB)
    assert torch.equal(ds[0][1], torch.from_numpy(quadrants((0, 1, 2, 255))).long())


def test_num_samples_takes_the_first_pairs_and_image_size_resizes(tmp_path: Path) -> None:
    ds = Cityscapes(make_cityscapes(tmp_path), "train", num_samples=2, image_size=20)
    assert len(ds) == 2
    image, mask = ds[0]
    assert image.shape == (3, 20, 24) and mask.shape == (20, 24)
    assert set(mask.unique().tolist()) == set(TRAIN_IDS)  # nearest neighbour: no blended labels
    with pytest.raises(ValueError, match=r"num_samples=9 but the split has 3 samples"):
        Cityscapes(tmp_path, "train", num_samples=9)


# ---- augmentation ----


def test_train_augmentation_keeps_image_and_mask_aligned(make_cfg, tmp_path: Path) -> None:
    root = make_cityscapes(tmp_path / "data", {"train": 1})
    cfg = make_cfg("dataset=cityscapes", f"dataset.root={root}", tiny=False)
    cfg.dataset.train.transforms.crop_size = [32, 32]
    ds = instantiate(cfg.dataset.train)
    torch.manual_seed(0)
    padded = 0
    for _ in range(12):
        image, mask = ds[0]
        assert image.shape == (3, 32, 32) and mask.shape == (32, 32)
        # inside every labelled region (2 px away from its edges, where resizing blends colours)
        # the image has one colour: the photometric jitter is global, and the flip, scale and
        # crop moved image and mask together
        for train_id in TRAIN_IDS[:2] + TRAIN_IDS[3:]:
            region = (mask == train_id).float()[None]
            interior = -F.max_pool2d(-region, 5, stride=1, padding=2)[0] == 1  # min-pool = erosion
            if interior.sum() > 4:
                pixels = image[:, interior].T  # (N, 3)
                assert ((pixels - pixels.median(0).values).abs().max(1).values < 0.05).all(), train_id
        # the padding: image 0, mask 255 (the unlabeled quadrant is 255 too but never black)
        pad = image.sum(0) == 0
        assert (mask[pad] == 255).all()
        padded += int(pad.any())
    assert padded, "a 0.5x rescale of a 40x48 image must have needed padding to 32x32"


def test_photometric_distortion_changes_colours_only(make_cfg) -> None:
    cfg = make_cfg("dataset=ade20k", tiny=False)
    distort = instantiate(cfg.dataset.train.transforms).transforms[-1]
    assert isinstance(distort, PhotometricDistortion)
    mask = tv_tensors.Mask(torch.from_numpy(quadrants((0, 1, 2, 3))))
    image = tv_tensors.Image(torch.from_numpy(colour_image(quadrants((0, 1, 2, 3)))).permute(2, 0, 1))
    distort.p = 1.0
    torch.manual_seed(0)
    out_image, out_mask = distort(image, mask)
    assert torch.equal(out_mask, mask) and isinstance(out_image, tv_tensors.Image)
    assert out_image.dtype == torch.uint8 and not torch.equal(out_image, image)
    distort.p = 0.0
    assert torch.equal(distort(image, mask)[0], image)


def test_photometric_distortion_saturation_and_hue() -> None:
    image = tv_tensors.Image(torch.rand(3, 8, 8))
    grey = PhotometricDistortion(brightness=0, contrast=(1, 1), saturation=(0, 0), hue=0, p=1.0)(image)
    assert torch.allclose(grey, grey[:1].expand(3, -1, -1), atol=1e-5)  # no saturation: grey
    luma = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    hue = PhotometricDistortion(brightness=0, contrast=(1, 1), saturation=(1, 1), hue=90, p=1.0)
    image = tv_tensors.Image(0.25 + 0.5 * torch.rand(3, 8, 8))  # away from 0/1: nothing clips
    torch.manual_seed(0)
    turned = hue(image)
    assert not torch.allclose(turned, image, atol=1e-2)
    assert torch.allclose((turned * luma).sum(0), (image * luma).sum(0), atol=1e-4)  # hue keeps luma


# ---- class metadata in the configs ----


@pytest.mark.parametrize(
    ("name", "num_classes"), [("cityscapes", 19), ("voc", 21), ("ade20k", 150), ("folder", 2)]
)
def test_config_class_metadata(name: str, num_classes: int) -> None:
    cfg = yaml.safe_load((CONF / "dataset" / f"{name}.yaml").read_text())
    assert cfg["num_classes"] == num_classes == len(cfg["class_names"]) == len(cfg["palette"])
    assert len(set(cfg["class_names"])) == num_classes
    assert cfg["ignore_index"] == 255 and cfg["root"] == f"${{paths.data_dir}}/{name}"
    if name == "voc":
        assert [tuple(c) for c in cfg["palette"]] == voc_colormap(21)
    if name == "ade20k":
        assert [tuple(c) for c in cfg["palette"]] == voc_colormap(151)[1:]
    if name == "cityscapes":
        assert cfg["palette"][0] == [128, 64, 128] and cfg["class_names"][13] == "car"
