"""Files a user names, and files charrnn writes: one check for a path that must be a readable
file, and one way to replace a file so that a crash never leaves it half-written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from charrnn.errors import CharRNNError

TEMP_SUFFIX = ".tmp"  # a write in progress is ".NAME.<random>.tmp" beside NAME


def require_file(path: Path, what: str, error: type[CharRNNError]) -> None:
    """`path` must exist and be a file; else `error` naming `what` it was meant to be."""
    if not path.exists():
        raise error(f"{what} not found: {path}")
    if path.is_dir():
        raise error(f"{what} is a directory, not a file: {path}")


def atomic_write(path: Path, write: Callable[[BinaryIO], object], mode: int | None = None) -> None:
    """Write with `write(file)` to a temporary file beside `path`, fsync, then os.replace: a crash
    or a full disk at any moment leaves the previous file at `path` untouched, and no temporary
    file behind. Failures are raised as they came (OSError, or what `write` raised). The file is
    private to its owner (0o600) unless `mode` says otherwise (a page to share: 0o644)."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def remove_unfinished_writes(directory: Path, names: tuple[str, ...]) -> int:
    """Delete the temporary files of atomic writes to `names` that a killed process never
    finished; how many. Only when no live process can be writing them (train/run_dir.py's lock)."""
    removed = 0
    for name in names:
        for tmp in directory.glob(f".{name}.*{TEMP_SUFFIX}"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed
