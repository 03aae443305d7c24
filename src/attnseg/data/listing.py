"""Finding the files of a dataset layout: the expected folders, every file (symlinks followed),
images paired with their masks. Every error names the folder or files and what was expected."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

Pair = tuple[Path, Path]


def require_layout(root: str | Path, name: str, expected: Sequence[str], how_to_get: str) -> Path:
    """Check that ``root`` holds the ``expected`` sub-folders; the error lists them all."""
    root = Path(root).expanduser()
    missing = [p for p in expected if not (root / p).is_dir()]
    if missing:
        problem = "does not exist" if not root.is_dir() else f"lacks {', '.join(missing)}"
        folders = "\n".join(f"  {root / p}/" + ("   <- missing" if p in missing else "") for p in expected)
        raise FileNotFoundError(
            f"{name}: dataset.root={root} {problem}. Expected the {name} layout:\n{folders}\n{how_to_get}"
        )
    return root


def list_files(folder: Path, depth: int | None = None) -> list[Path]:
    """Every file under ``folder`` (sorted), following directory symlinks: a symlinked sub-folder
    counts like a real one. Each real directory is read once (tracked by its resolved path), so a
    symlink cycle (``a/loop -> ..``) ends, and a folder linked twice lists its files once.
    ``depth``: only files that many folders down (0: in ``folder`` itself); ``None``: any depth.
    A broken symlink or an unreadable folder is an error naming it."""

    def fail(err: OSError) -> None:
        raise err

    found, seen = [], set()
    for current, dirs, files in os.walk(folder, onerror=fail, followlinks=True):
        here = Path(current)
        level = len(here.relative_to(folder).parts)
        real = os.path.realpath(here)
        if real in seen:
            dirs.clear()
            continue
        seen.add(real)
        # sorted: the first path to a real directory is the one kept
        dirs[:] = sorted(dirs) if depth is None or level < depth else []
        for name in files if depth is None or level == depth else ():
            path = here / name
            if path.is_symlink() and not path.exists():
                raise FileNotFoundError(f"{path}: broken symlink to {os.readlink(path)}")
            found.append(path)
    return sorted(found)


def pair_files(images: Mapping[str, Path], masks: Mapping[str, Path], where: str) -> list[Pair]:
    """Pair images and masks by key; an image without a mask or a mask without an image is an error."""
    for lonely, other, kind in ((images, masks, "image"), (masks, images, "mask")):
        missing = sorted(set(lonely) - set(other))
        if missing:
            counterpart = "mask" if kind == "image" else "image"
            shown = ", ".join(str(lonely[k]) for k in missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise FileNotFoundError(f"{where}: {len(missing)} {kind} file(s) have no {counterpart}: {shown}")
    return [(images[k], masks[k]) for k in sorted(images)]
