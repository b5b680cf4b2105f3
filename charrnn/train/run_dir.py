"""A run's directory (--checkpoint-dir): the files a run owns, one training at a time, and what a
killed or replaced run left behind cleared before a run writes there.

The lock is an operating-system file lock (the `filelock` package: flock on Unix, LockFileEx on
Windows), so it dies with its process: a run killed with -9 leaves a lock file that the next run
simply takes over, never a stale lock that blocks forever.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from charrnn.errors import CheckpointError
from charrnn.files import remove_unfinished_writes
from charrnn.train.metrics_log import rewind_metrics

LOCK_NAME = ".train.lock"
RUN_FILES = ("metrics.jsonl", "best.pt", "last.pt")


def last_checkpoint_path(directory: Path) -> Path:
    return directory / "last.pt"


def metrics_path(directory: Path) -> Path:
    return directory / "metrics.jsonl"


def existing_run(directory: Path) -> Path | None:
    """A checkpoint a run left in `directory`, if any (a fresh run will not overwrite it)."""
    return next((p for p in (directory / "last.pt", directory / "best.pt") if p.exists()), None)


def clear_leftovers(directory: Path, *, resumed_at: int | None) -> int:
    """Make the directory hold only what this run continues from; how many unfinished writes
    of a killed run were removed. A resumed run's metrics.jsonl is cut back to its checkpoint's
    step; a fresh run (which start_run allowed only on an empty directory or with --force)
    removes the old run's files. Only while holding the lock."""
    removed = remove_unfinished_writes(directory, RUN_FILES)
    if resumed_at is not None:
        rewind_metrics(metrics_path(directory), resumed_at)
    else:
        for name in RUN_FILES:
            (directory / name).unlink(missing_ok=True)
    return removed


def _holder_description(lock_path: Path) -> str:
    """Who holds the lock, as the holder wrote it (best effort: the file is advisory text)."""
    try:
        text = lock_path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    return text or "another process"


def _write_holder(lock_path: Path) -> None:
    holder = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"
    with contextlib.suppress(OSError):  # only a courtesy for the message above; the lock is the flock
        lock_path.write_text(holder + "\n", encoding="utf-8")


@contextlib.contextmanager
def lock_checkpoint_dir(directory: Path, *, force: bool, warn: Callable[[str], None]) -> Iterator[None]:
    """Hold CHECKPOINT_DIR for one training; a second one is refused unless `force`."""
    lock_path = directory / LOCK_NAME
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_path), timeout=0)
        lock.acquire()
    except Timeout:
        holder = _holder_description(lock_path)
        if not force:
            raise CheckpointError(
                f"{directory} is in use by another training ({holder}): wait for it to end, choose "
                "another --checkpoint-dir, or add --force to train into it anyway"
            ) from None
        warn(f"warning: {directory} is in use by another training ({holder}); continuing (--force)")
        yield
        return
    except OSError as e:
        reason = e.strerror or e
        raise CheckpointError(f"cannot write to checkpoint directory {directory}: {reason}") from None
    try:
        _write_holder(lock_path)
        yield
    finally:
        lock.release()
