"""Sub-folders that are symlinks are listed like real ones; a symlink cycle ends the walk."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from attnseg.data import ADE20K, Cityscapes, FolderSegmentation
from attnseg.data.files import SegmentationFiles
from tests.data.layouts import make_ade20k, make_cityscapes, make_folder


def move_and_link(folder: Path, elsewhere: Path) -> None:
    """Move ``folder`` to ``elsewhere`` and leave a symlink to it in its place."""
    elsewhere.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(folder, elsewhere)
    folder.symlink_to(elsewhere, target_is_directory=True)


def folder_in_two_parts(root: Path) -> Path:
    """images/train/{a,b}/ and masks/train/{a,b}/, 4 samples each; the b/ folders are symlinks."""
    make_folder(root / "a", counts={"train": 4, "val": 1})
    make_folder(root / "b", counts={"train": 4, "val": 1})
    for kind in ("images", "masks"):
        for split in ("train", "val"):
            (root / kind / split).mkdir(parents=True)
            shutil.move(root / "a" / kind / split, root / kind / split / "a")
            (root / kind / split / "b").symlink_to(root / "b" / kind / split, target_is_directory=True)
    return root


def within(seconds: float, build: Callable[[], SegmentationFiles]) -> SegmentationFiles:
    """``build()`` in a thread: a listing that loops on a cycle fails the test instead of hanging it."""
    result: list[SegmentationFiles | BaseException] = []

    def target() -> None:
        try:
            result.append(build())
        except BaseException as err:  # re-raised in the test's thread
            result.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the listing did not end within {seconds} s (symlink cycle?)"
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def test_folder_follows_symlinked_sub_folders(tmp_path: Path) -> None:
    root = folder_in_two_parts(tmp_path / "data")
    dataset = FolderSegmentation(root, "train", num_classes=3)
    assert len(dataset) == 8
    assert [p[0].relative_to(root).as_posix() for p in dataset.pairs[3:5]] == [
        "images/train/a/img_3.jpg",
        "images/train/b/img_0.jpg",  # the path through the link: pairs and messages read as the layout
    ]
    assert dataset[4][1].shape == dataset[0][1].shape


def test_folder_whose_only_sub_folder_is_a_symlink_is_not_empty(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "data", counts={"train": 3})
    for kind in ("images", "masks"):
        shutil.move(root / kind / "train", tmp_path / kind)
        (root / kind / "train").mkdir()
        (root / kind / "train" / "all").symlink_to(tmp_path / kind, target_is_directory=True)
    assert len(FolderSegmentation(root, "train", num_classes=3)) == 3


def test_symlink_cycle_ends_and_lists_each_file_once(tmp_path: Path) -> None:
    root = folder_in_two_parts(tmp_path / "data")
    for kind in ("images", "masks"):
        (root / kind / "train" / "a" / "loop").symlink_to("..", target_is_directory=True)  # a/loop -> train
        (root / kind / "train" / "b" / "self").symlink_to(".", target_is_directory=True)
    dataset = within(30, lambda: FolderSegmentation(root, "train", num_classes=3))
    assert len(dataset) == 8


def test_cityscapes_follows_symlinked_cities(tmp_path: Path) -> None:
    root = make_cityscapes(tmp_path / "data", {"train": 8})
    for kind in ("leftImg8bit", "gtFine"):
        move_and_link(root / kind / "train" / "bochum", tmp_path / "elsewhere" / kind / "bochum")
        (root / kind / "train" / "aachen" / "loop").symlink_to("..", target_is_directory=True)
    dataset = within(30, lambda: Cityscapes(root, "train"))
    assert len(dataset) == 8 and sum(p[0].parent.name == "bochum" for p in dataset.pairs) == 4


def test_ade20k_follows_symlinked_split_folders(tmp_path: Path) -> None:
    root = make_ade20k(tmp_path / "data", {"training": 4})
    ade = root / "ADEChallengeData2016"
    for kind in ("images", "annotations"):
        move_and_link(ade / kind / "training", tmp_path / "elsewhere" / kind)
    assert len(ADE20K(root, "training")) == 4


def test_broken_symlink_is_named(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "data")
    link = root / "masks/train/img_3.png"
    link.symlink_to(tmp_path / "gone.png")
    with pytest.raises(FileNotFoundError, match=rf"{link}: broken symlink to {tmp_path / 'gone.png'}"):
        FolderSegmentation(root, "train", num_classes=3)
