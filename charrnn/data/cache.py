"""The encoded corpus kept on disk, memory-mapped: a big corpus is encoded once, and a later run
on the same unchanged file starts in a fraction of a second without holding it in memory.

Entries are named by the file's sha256 (and the vocabulary, when one is imposed), so a changed
file is a new entry and is never served stale. The directory: $CHARRNN_CACHE_DIR, else
$XDG_CACHE_HOME/charrnn, else ~/.cache/charrnn. Writes are atomic (temporary file, os.replace).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

CACHE_MIN_BYTES = 8 << 20  # smaller corpora encode in well under a second: kept in memory


def cache_dir() -> Path:
    if os.environ.get("CHARRNN_CACHE_DIR"):
        return Path(os.environ["CHARRNN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "charrnn"


def entry_name(sha256: str, vocab_chars: str | None) -> str:
    if vocab_chars is None:
        return f"{sha256}-own"
    return f"{sha256}-{hashlib.sha256(vocab_chars.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"


def load_entry(directory: Path, name: str, num_bytes: int) -> tuple[np.ndarray, dict[str, Any]] | None:
    """(ids memory-mapped read-only, the entry's record: its vocabulary characters "chars" and
    what the writer added), or None if absent or unusable."""
    try:
        meta = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
        ids = np.load(directory / f"{name}.npy", mmap_mode="r")
        if meta.get("num_bytes") != num_bytes or ids.ndim != 1 or len(ids) != meta.get("num_chars"):
            return None
        if not isinstance(meta.get("chars"), str):
            return None
        return ids, meta
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store_entry(
    directory: Path,
    name: str,
    num_chars: int,
    num_bytes: int,
    chars: str,
    dtype: np.dtype,
    fill: Callable[[np.ndarray], None],
    extra: dict[str, Any] | None = None,
) -> np.ndarray | None:
    """Encode into a new entry with `fill` and return it memory-mapped; None if the cache
    directory cannot be written (the caller then encodes in memory). `extra`: more of the record
    (JSON data) that `load_entry` gives back."""
    npy, meta = directory / f"{name}.npy", directory / f"{name}.json"
    tmp_npy, tmp_meta = (directory / f".{p.name}.{os.getpid()}.tmp" for p in (npy, meta))
    try:
        directory.mkdir(parents=True, exist_ok=True)
        out = np.lib.format.open_memmap(tmp_npy, mode="w+", dtype=dtype, shape=(num_chars,))
        fill(out)
        out.flush()
        del out
        os.replace(tmp_npy, npy)
        record = {**(extra or {}), "num_chars": num_chars, "num_bytes": num_bytes, "chars": chars}
        tmp_meta.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp_meta, meta)
    except BaseException as e:  # nothing half-written stays behind, whatever stopped the encoding
        for tmp in (tmp_npy, tmp_meta):
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            return None
        raise
    return np.load(npy, mmap_mode="r")
