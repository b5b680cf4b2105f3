"""One training at a time per checkpoint directory.

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

LOCK_NAME = ".train.lock"


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
