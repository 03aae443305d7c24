"""How big the attention explorer's pages are and how fast they are written, load and redraw.

    attnseg-explore-bench [--cases ccnet-64x320 ccnet-512x512 danet-512x512] [--clicks 9] [--out DIR]

A case ``<head>-<H>x<W>`` is an untrained ``test_resnet`` model with ``conf/head/<head>.yaml``
(weights drawn with ``--seed``, attention gammas at 0.5 as training would set them, saved as
``attnseg-train`` saves a checkpoint) and a synthetic scene of H x W pixels, not shrunk. For each:

* *page (MiB)*: the size of the ``<case>_explorer.html`` written, 2**20 bytes to the MiB;
* *write (s)*: the wall time of the whole ``attnseg-explore`` command, run as a user runs it
  (start-up and imports, checkpoint, model, forward with capture, mask, quantise, deflate,
  write), with ``OMP_NUM_THREADS=--threads``;
* in headless Chromium through Playwright (Debian's ``/usr/bin/chromium``, or the browser named
  by ``ATTNSEG_CHROMIUM``, as ``tests/tasks/test_explore.py`` drives it): *load (s)*, from the
  start of the navigation until the page sets ``body[data-ready]`` (maps inflated, first
  drawing done); *redraw (ms)*, the median over ``--clicks`` clicks on far-apart pixels of the
  time from the click until the page reports the new query in ``body.dataset.query`` (after
  one untimed click that pins the query, so hovering draws nothing in between).

``--no-browser`` measures sizes and write times only. ``--out DIR`` writes ``explore_bench.md``
(machine, threads, torch, date, load average before and after, the table) and
``explore_bench.csv``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from attnseg.config.compose import compose, conf_dir
from attnseg.data.synthetic import render_scene
from attnseg.tools.measure import device_option, machine, write_results
from attnseg.training.module import RUN_CONFIG_KEY
from attnseg.viz.explorer import read_page_data

CASES = ("ccnet-64x320", "ccnet-512x512", "danet-512x512")
FIELDS = ["case", "cells", "page_bytes", "page_mib", "write_s", "load_s", "redraw_ms", "clicks"]
CHROMIUM_ARGS = [  # headless, no sandbox (containers), nothing fetched: tests/tasks/test_explore.py uses them too
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1400, "height": 1000}
LOAD_TIMEOUT_S, QUERY_TIMEOUT_S = 120, 20


def chromium_path() -> Path:
    """Debian's Chromium, or the Chromium-based browser named by ``ATTNSEG_CHROMIUM``."""
    return Path(os.environ.get("ATTNSEG_CHROMIUM", "/usr/bin/chromium"))


def case_option(text: str) -> str:
    """``argparse`` type of ``--cases``: ``<head>-<H>x<W>`` with a head of ``conf/head/``."""
    match = re.fullmatch(r"(\w+)-(\d+)x(\d+)", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: expected <head>-<H>x<W>, e.g. ccnet-64x320")
    heads = sorted(p.stem for p in (conf_dir() / "head").glob("*.yaml"))
    if match[1] not in heads:
        raise argparse.ArgumentTypeError(f"{text!r}: no head {match[1]!r} in conf/head/ {heads}")
    return text


def untrained_checkpoint(head: str, path: Path, seed: int) -> Path:
    """A ``test_resnet`` model with ``head``, untrained, saved as ``attnseg-train`` saves one."""
    cfg = compose("train", ["backbone=test_resnet", f"head={head}"], output_dir=path.parent)
    torch.manual_seed(seed)
    model = instantiate(cfg.model)
    for name, param in model.named_parameters():
        if name.endswith(".gamma"):  # attention switched on, as training would (they start at 0)
            param.data.fill_(0.5)
    state = {"state_dict": model.state_dict(), RUN_CONFIG_KEY: OmegaConf.to_container(cfg, resolve=True)}
    torch.save(state, path)
    return path


def write_case(case: str, work: Path, pages: Path, seed: int, device: str, threads: int) -> dict:
    """Run ``attnseg-explore`` on the case as a user would; the page's size and grid, the command's time."""
    head, h, w = re.fullmatch(r"(\w+)-(\d+)x(\d+)", case).groups()
    ckpt = untrained_checkpoint(head, work / f"{case}.ckpt", seed)
    image = work / f"{case}.png"
    Image.fromarray(render_scene(np.random.default_rng(seed), (int(h), int(w)))[0]).save(image)
    overrides = [f"ckpt_path={ckpt}", f"image={image}", f"output={pages}", "logger=none"]
    overrides += [f"device={device}", f"max_size={max(int(h), int(w))}"]  # the scene as drawn
    overrides += [f"hydra.run.dir={work / case}"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    done = subprocess.run([explore_command(), *overrides], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    page = pages / f"{image.stem}_explorer.html"
    if done.returncode or not page.is_file():
        raise RuntimeError(f"attnseg-explore {' '.join(overrides)} wrote no {page}; its output ends:\n"
                           f"{(done.stdout + done.stderr)[-3000:]}")  # fmt: skip
    size = page.stat().st_size
    spatial = read_page_data(page.read_text(encoding="utf-8"))["spatial"]
    cells = spatial[0]["h"] * spatial[0]["w"] if spatial else None
    return {
        "case": case,
        "page": page,
        "cells": cells,
        "page_bytes": size,
        "page_mib": size / 2**20,
        "write_s": seconds,
    }


def explore_command() -> str:
    """The ``attnseg-explore`` installed beside this interpreter (a command does not import another)."""
    found = shutil.which("attnseg-explore", path=str(Path(sys.executable).parent)) or shutil.which(
        "attnseg-explore"
    )
    if found is None:
        raise RuntimeError("attnseg-explore is not installed: pip install -e . (it puts the command on PATH)")
    return found


def query_points(shape: tuple[int, int], count: int) -> list[tuple[int, int]]:
    """``count`` pixels spread over the picture, each far from the one before and from the centre
    (where the page starts)."""
    golden = (math.sqrt(5) - 1) / 2
    return [
        (int((0.1 + i * golden) % 1 * shape[0]), int((0.3 + i * (1 - golden)) % 1 * shape[1]))
        for i in range(count)
    ]


def _wait(page, problems: list[str], timeout_s: float, previous: str | None = None) -> None:
    """Wait for ``body[data-ready]`` or, given the ``previous`` query, for the page to report
    another; or fail saying which, and what the page reported."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        if previous is None:
            page.wait_for_selector("body[data-ready]", timeout=timeout_s * 1000)
        else:  # a function, not an expression: the page's CSP forbids eval
            page.wait_for_function(
                "(q) => document.body.dataset.query !== q", arg=previous, timeout=timeout_s * 1000
            )
    except PlaywrightTimeout:
        what = "body[data-ready]" if previous is None else f"a query other than {previous}"
        raise RuntimeError(
            f"{page.url}: {what} not within {timeout_s} s; the page reported {problems}"
        ) from None


def _time_clicks(page, problems: list[str], count: int) -> list[float]:
    """Seconds from each click on a far-apart pixel of the picture until the page reports it."""
    canvas = page.locator("#panels canvas").first  # the image; every picture takes clicks
    canvas.scroll_into_view_if_needed()
    box, shape = canvas.bounding_box(), canvas.evaluate("c => [c.height, c.width]")
    times = []
    for y, x in query_points(shape, count):
        previous = page.evaluate("() => document.body.dataset.query")
        start = time.perf_counter()
        page.mouse.click(
            box["x"] + (x + 0.5) * box["width"] / shape[1], box["y"] + (y + 0.5) * box["height"] / shape[0]
        )
        _wait(page, problems, QUERY_TIMEOUT_S, previous)
        times.append(time.perf_counter() - start)
        # Chrome's mouse events have whole-pixel coordinates: the picture's may be off by one
        shown = [int(v) for v in page.evaluate("() => document.body.dataset.query").split(",")]
        if abs(shown[0] - y) > 1 or abs(shown[1] - x) > 1:
            raise RuntimeError(f"{page.url}: a click aimed at pixel {y},{x} chose {shown}")
    return times


def browse(browser, page_file: Path, clicks: int) -> tuple[float, list[float]]:
    """Seconds from navigation to ``body[data-ready]``, and each timed click's seconds to redraw."""
    page = browser.new_page(viewport=VIEWPORT)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error {e}"))
    page.on("console", lambda m: problems.append(f"console {m.text}") if m.type == "error" else None)
    try:
        start = time.perf_counter()
        page.goto(page_file.as_uri())
        _wait(page, problems, LOAD_TIMEOUT_S)
        load = time.perf_counter() - start
        return load, _time_clicks(page, problems, clicks + 1)[1:]  # the first click pins the query
    finally:
        page.close()


@contextlib.contextmanager
def chromium(path: Path) -> Iterator:
    """A headless Chromium at ``path``, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(path), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def browser_problem(path: Path) -> str | None:
    """Why the browser part cannot run here, or ``None``."""
    flag = "or pass --no-browser for sizes and write times only"
    if not path.is_file():
        return (
            f"no Chromium at {path}: apt-get install chromium, set ATTNSEG_CHROMIUM to a "
            f"Chromium-based browser, {flag}"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return f"needs Playwright for Python (pip install playwright; no browser download), {flag}"
    return None


def table(rows: list[dict], clicks: int) -> str:
    lines = [
        f"| case | N | page (MiB) | write (s) | load (s) | redraw (ms, median of {clicks}) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        load = "-" if r.get("load_s") is None else f"{r['load_s']:.2f}"
        redraw = "-" if r.get("redraw_ms") is None else f"{r['redraw_ms']:.0f}"
        lines.append(
            f"| {r['case']} | {r['cells']} | {r['page_mib']:.2f} | {r['write_s']:.1f} | {load} | {redraw} |"
        )
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", nargs="+", type=case_option, default=list(CASES), help="<head>-<H>x<W>")
    parser.add_argument("--clicks", type=int, default=9, help="timed clicks per page (default 9)")
    parser.add_argument("--no-browser", action="store_true", help="sizes and write times only")
    parser.add_argument("--out", type=Path, help="write explore_bench.md and explore_bench.csv here")
    parser.add_argument("--pages", type=Path, help="keep the pages here (default: a temporary folder)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="of the weights and the scenes")
    parser.add_argument("--device", type=device_option, default="cpu", help="cpu (default), cuda or auto")
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, dict]:
    """Measure each case; ``{case: row}`` with the fields of :data:`FIELDS`."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.clicks < 1 or args.threads < 1:
        parser.error(f"--clicks {args.clicks} and --threads {args.threads}: both must be at least 1")
    path = chromium_path()
    if not args.no_browser and (problem := browser_problem(path)):
        parser.error(problem)
    before, threads = os.getloadavg(), torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        header = machine(torch.device(args.device))
        with tempfile.TemporaryDirectory(prefix="attnseg-explore-bench-") as work:
            pages = (args.pages or Path(work)).resolve()
            rows = [
                write_case(c, Path(work), pages, args.seed, args.device, args.threads) for c in args.cases
            ]
            if not args.no_browser:
                with chromium(path) as browser:
                    header += f"; Chromium {browser.version} at {path}"
                    for row in rows:
                        row["load_s"], redraws = browse(browser, row["page"], args.clicks)
                        row["redraw_ms"], row["clicks"] = statistics.median(redraws) * 1000, len(redraws)
    finally:
        torch.set_num_threads(threads)
    after = os.getloadavg()
    loads = " / ".join(", ".join(f"{v:.2f}" for v in avg) for avg in (before, after))
    markdown = (
        f"# attnseg-explore-bench\n\n{header}\n\nload average (1, 5, 15 min) before / after: {loads}\n\n"
    )
    markdown += table(rows, args.clicks)
    print(markdown)
    if args.out:
        write_results(args.out, "explore_bench", markdown, rows, FIELDS)
    if not args.pages:  # the temporary folder is gone
        for row in rows:
            del row["page"]
    return {row.pop("case"): row for row in rows}


def cli() -> None:
    """Console-script entry point (``[project.scripts]``)."""
    main(sys.argv[1:])


if __name__ == "__main__":
    cli()
