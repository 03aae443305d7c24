"""What the data pipeline costs on one CPU thread: the figures ``docs/datasets.md`` states.

::

    attnseg-data-bench --repeats 30 --out bench/data

Four measurements, each the project's own code on real PNG files written to a temporary
Cityscapes tree (``leftImg8bit/`` + ``gtFine/``) and read back through :class:`attnseg.data.Cityscapes`:

1. **Photometric distortion** of a 512x1024 uint8 crop: :class:`~attnseg.data.augment.PhotometricDistortion`
   (every part applied, ``p=1``) against ``v2.ColorJitter`` over the same ranges (brightness
   +-32/255 as a factor, contrast and saturation 0.5-1.5, hue +-18 degrees = 0.05): why the
   project has its own colour transform.
2. **Headers**: :func:`~attnseg.data.files.check_pair`, which every dataset runs on each image
   and mask at construction, per file; and the whole construction (listing, pairing, headers;
   ``scan_masks=0``) per file. Warm disk cache: the files were just written.
3. **The mask scan**: ``read_mask`` of the dataset, what ``scan_masks`` runs on each mask, and its
   parts, :func:`~attnseg.data.files.load` (decode) and :func:`~attnseg.data.files.map_labels`
   (lookup and check), on a 1024x2048 ``labelIds`` PNG of Cityscapes' structure (polygons of
   label ids, ~30 KiB) and on a noise-like worst case (~1.5 MiB).
4. **One training sample**: the dataset's ``__getitem__`` with the transforms of
   ``conf/dataset/cityscapes.yaml`` (rescale 0.5-2.0, crop 512x1024, flip, distortion), on a
   2048x1024 photo-like PNG (~2 MiB, like a ``leftImg8bit`` file), and each part of it.

Times are medians over ``--repeats`` rounds after one warm-up round; a round measures every
figure once, so a burst of load spreads over all of them. CPU time is ``time.process_time``,
wall time ``time.perf_counter``; on an idle core the two agree, and on a loaded machine the CPU
time is the figure to read. The random draws are seeded, so two runs time the same work.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from attnseg.config.compose import compose
from attnseg.data.augment import PhotometricDistortion
from attnseg.data.cityscapes import LABEL_IDS_SUFFIX, Cityscapes
from attnseg.data.files import INDEX_MODES, check_pair, load, map_labels
from attnseg.data.transforms import iter_transforms
from attnseg.tools.fake_cityscapes import write_tree
from attnseg.tools.measure import machine, write_results

FIGURES = {
    "photometric_distortion": "PhotometricDistortion(p=1), 512x1024 uint8 crop",
    "color_jitter": "v2.ColorJitter, same ranges, 512x1024 uint8 crop",
    "header_per_file": "check_pair (both headers) per file",
    "construction_per_file": "Cityscapes(...) construction, scan_masks=0, per file",
    "mask_scan": "read_mask of a structured labelIds PNG (what scan_masks runs)",
    "mask_decode": "decode part of mask_scan (files.load)",
    "mask_check": "lookup and check part of mask_scan (files.map_labels)",
    "noise_mask_scan": "read_mask of a noise-like labelIds PNG (worst case)",
    "noise_mask_decode": "decode part of noise_mask_scan",
    "noise_mask_check": "lookup and check part of noise_mask_scan",
    "sample": "one training sample: Cityscapes.__getitem__ with the configured transforms",
    "sample_decode_image": "part of sample: decode the RGB PNG",
    "sample_decode_mask": "part of sample: decode and check the labelIds PNG",
    "sample_rescale": "part of sample: RandomScale (0.5-2.0)",
    "sample_crop": "part of sample: RandomCrop 512x1024",
    "sample_flip": "part of sample: RandomHorizontalFlip",
    "sample_distortion": "part of sample: PhotometricDistortion (p=0.5 each, as configured)",
    "sample_to_float": "part of sample: image to float32 in [0, 1], mask to int64",
}
FIELDS = ["figure", "cpu_ms", "wall_ms", "repeats", "what"]
# figure name of each configured train transform (conf/dataset/cityscapes.yaml)
STEP_NAMES = {"RandomScale": "rescale", "RandomCrop": "crop", "RandomHorizontalFlip": "flip",
              "PhotometricDistortion": "distortion"}  # fmt: skip


class Timings:
    """CPU and wall seconds of named blocks: ``with timings("name", per=n): ...`` (``n`` files)."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[tuple[float, float]]] = {}

    @contextlib.contextmanager
    def __call__(self, name: str, per: int = 1) -> Iterator[None]:
        cpu, wall = time.process_time(), time.perf_counter()
        yield
        spent = ((time.process_time() - cpu) / per, (time.perf_counter() - wall) / per)
        self.seconds.setdefault(name, []).append(spent)

    def rows(self) -> dict[str, dict]:
        missing = sorted(set(FIGURES) - set(self.seconds))
        if missing:
            raise RuntimeError(f"data bench: no timing for {missing}")
        rows = {}
        for name, what in FIGURES.items():
            cpu, wall = zip(*self.seconds[name], strict=True)
            rows[name] = {"figure": name, "cpu_ms": 1e3 * statistics.median(cpu), "what": what,
                          "wall_ms": 1e3 * statistics.median(wall), "repeats": len(cpu)}  # fmt: skip
        return rows


@dataclass
class Bench:
    """What a round times: a 512x1024 crop and its two colour transforms, the ``val`` split of
    header-only frames, the configured ``train`` split, and the written files."""

    crop: tv_tensors.Image  # (3, H/2, H) uint8
    distortion: PhotometricDistortion
    jitter: v2.ColorJitter
    root: Path
    headers: Cityscapes
    train: Cityscapes
    paths: dict[str, Path]


def setup(root: Path, paths: dict[str, Path], height: int) -> Bench:
    """The datasets as a command builds them: ``train`` from ``conf/dataset/cityscapes.yaml``."""
    overrides = ["dataset=cityscapes", f"dataset.root={root}", "dataset.train.scan_masks=0"]
    cfg = compose("train", overrides, output_dir=root / "hydra")
    train = instantiate(cfg.dataset.train)
    GlobalHydra.instance().clear()
    image = torch.from_numpy(load(paths["image"], "RGB")).permute(2, 0, 1)  # (3, H, 2H)
    crop = tv_tensors.Image(image[:, : height // 2, :height].contiguous())  # (3, H/2, H)
    jitter = v2.ColorJitter(brightness=32 / 255, contrast=(0.5, 1.5), saturation=(0.5, 1.5), hue=18 / 360)
    headers = Cityscapes(root, "val", scan_masks=0)
    return Bench(crop, PhotometricDistortion(p=1.0), jitter, root, headers, train, paths)


def mask_parts(dataset: Cityscapes, path: Path, timings: Timings, prefix: str) -> np.ndarray:
    """``read_mask``'s two parts, each timed: decode, then the lookup that raises on a bad value."""
    if not path.name.endswith(LABEL_IDS_SUFFIX):  # read_mask uses dataset.lut for these only
        raise ValueError(f"data bench: {path} is not a *{LABEL_IDS_SUFFIX} mask")
    with timings(f"{prefix}_decode"):
        raw = load(path)  # (H, W) uint8 label ids
    with timings(f"{prefix}_check"):
        return map_labels(raw, dataset.lut, path, dataset.name)


def train_steps(dataset: Cityscapes) -> list[tuple[str, v2.Transform]]:
    """The configured transforms, in order, each with its figure's name."""
    leaves = [t for t in iter_transforms(dataset.transforms) if not isinstance(t, v2.Compose)]
    unknown = [type(t).__name__ for t in leaves if type(t).__name__ not in STEP_NAMES]
    if unknown:
        raise ValueError(f"data bench: the train transforms hold {unknown}, expected only {list(STEP_NAMES)}")
    return [(f"sample_{STEP_NAMES[type(t).__name__]}", t) for t in leaves]


def sample_parts(dataset: Cityscapes, timings: Timings) -> tuple[torch.Tensor, torch.Tensor]:
    """``dataset[0]``, one timed part at a time; the same draws give the same sample."""
    image_path, mask_path = dataset.pairs[0]
    with timings("sample_decode_image"):
        image = load(image_path, "RGB")  # (H, W, 3)
    with timings("sample_decode_mask"):
        mask = dataset.read_mask(mask_path)  # (H, W)
    image = tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1))  # (3, H, W)
    mask = tv_tensors.Mask(torch.from_numpy(mask))
    for name, step in train_steps(dataset):
        with timings(name):
            image, mask = step(image, mask)
    with timings("sample_to_float"):
        image = TF.to_dtype(image, torch.float32, scale=True)
        return image.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor).long()


def measure_round(bench: Bench, timings: Timings) -> None:
    """Every figure once."""
    with timings("photometric_distortion"):
        bench.distortion(bench.crop)
    with timings("color_jitter"):
        bench.jitter(bench.crop)
    pairs = bench.headers.pairs
    with timings("header_per_file", per=2 * len(pairs)):
        for image_path, mask_path in pairs:
            check_pair(image_path, mask_path, INDEX_MODES)
    with timings("construction_per_file", per=2 * len(pairs)):
        Cityscapes(bench.root, "val", scan_masks=0)
    for prefix, path in (("mask", bench.paths["mask"]), ("noise_mask", bench.paths["noise_mask"])):
        with timings(f"{prefix}_scan"):
            bench.train.read_mask(path)
        mask_parts(bench.train, path, timings, prefix)
    with timings("sample"):
        bench.train[0]
    sample_parts(bench.train, timings)


def _ms(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.1f}"


def to_markdown(rows: dict[str, dict], sizes: dict[str, int], args: argparse.Namespace, load: tuple) -> str:
    kib = {name: f"{size / 1024:.0f} KiB" for name, size in sizes.items()}
    lines = [
        "# Data pipeline costs on one CPU thread (attnseg-data-bench)",
        "",
        f"Machine: {machine(torch.device('cpu'))}. Load average before / after: {load[0]:.2f} / {load[1]:.2f}.",
        f"Files: {2 * args.size}x{args.size} RGB PNG {kib['image']}; labelIds PNGs {kib['mask']} "
        f"(structured) and {kib['noise_mask']} (noise); headers over {2 * max(args.files // 2, 1)} files. "
        f"Medians of {args.repeats} rounds after a warm-up; CPU: time.process_time, wall: "
        f"time.perf_counter. Command: `attnseg-data-bench {' '.join(args.argv)}`",
        "",
        "| figure | what | CPU ms | wall ms |",
        "|---|---|---:|---:|",
    ]
    lines += [
        f"| {r['figure']} | {r['what']} | {_ms(r['cpu_ms'])} | {_ms(r['wall_ms'])} |" for r in rows.values()
    ]
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=50, help="timed rounds (default: 50)")
    parser.add_argument("--files", type=int, default=400, help="files whose headers are read (default: 400)")
    parser.add_argument("--size", type=int, default=1024,
                        help="image height, width twice it (default: 1024, Cityscapes); smaller for quick checks")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="write data_bench.md and data_bench.csv here")
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, dict]:
    """Each figure's row (``cpu_ms``, ``wall_ms``, ``repeats``, ``what``), by name (:data:`FIGURES`)."""
    args = _parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    for option, value, least in (
        ("--repeats", args.repeats, 1),
        ("--files", args.files, 2),
        ("--size", args.size, 64),
    ):
        if value < least:
            raise SystemExit(f"attnseg-data-bench: {option} must be at least {least}, got {value}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory(prefix="attnseg-data-bench-") as tmp:
            paths = write_tree(Path(tmp), args.size, args.files)
            bench = setup(Path(tmp), paths, args.size)
            torch.manual_seed(0)
            measure_round(bench, Timings())  # warm-up: caches, lazy imports, allocator
            timings = Timings()
            for _ in range(args.repeats):
                measure_round(bench, timings)
            sizes = {name: path.stat().st_size for name, path in paths.items()}
        rows = timings.rows()
        markdown = to_markdown(rows, sizes, args, (load_before, os.getloadavg()[0]))
    finally:
        torch.set_num_threads(threads)
    print(markdown)
    if args.out:
        write_results(args.out, "data_bench", markdown, list(rows.values()), FIELDS)
    return rows


def cli() -> None:
    """Console-script entry point (``[project.scripts]``): ``main`` on the command line's arguments."""
    main(sys.argv[1:])


if __name__ == "__main__":
    cli()
