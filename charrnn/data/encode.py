"""Encoding a corpus of any size in bounded memory: two passes over its decoded chunks (which
characters occur, then their ids) straight into a preallocated, possibly memory-mapped, array.

ASCII chunks, the common case, are handled as bytes (one uint8 per character); others as
UTF-32 code points. Neither pass makes a Python object per character.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charrnn.data.text import read_text_chunks
from charrnn.data.vocab import Vocabulary, code_points

ENCODE_CHUNK_BYTES = 16 << 20
NUM_CODE_POINTS = 0x110000


@dataclass(frozen=True)
class Scan:
    """What the first pass found."""

    num_chars: int
    chars: str  # the distinct characters, sorted by code point
    first_nul: int  # character position of the first NUL, -1 if none


def scan_corpus(path: Path, chunk_bytes: int = ENCODE_CHUNK_BYTES) -> Scan:
    present = np.zeros(NUM_CODE_POINTS, dtype=bool)
    num_chars, first_nul = 0, -1
    for text in read_text_chunks(str(path), chunk_bytes):
        if first_nul < 0 and (nul := text.find("\0")) >= 0:
            first_nul = num_chars + nul
        points = code_points(text)
        if points.dtype == np.uint8:
            present[:128] |= np.bincount(points, minlength=128) > 0
        else:
            present[points] = True
        num_chars += len(text)
    chars = "".join(map(chr, np.flatnonzero(present).tolist()))
    return Scan(num_chars=num_chars, chars=chars, first_nul=first_nul)


def encode_corpus(
    path: Path, vocab: Vocabulary, outs: Sequence[np.ndarray], chunk_bytes: int = ENCODE_CHUNK_BYTES
) -> None:
    """Fill `outs` in order, one slot per character (e.g. a file's training part, then its
    validation part), with the ids of the file's characters, all of which `vocab` must know
    (scan_corpus first)."""
    lookup = np.zeros(NUM_CODE_POINTS, dtype=outs[0].dtype)
    lookup[[ord(c) for c in vocab.chars]] = np.arange(vocab.size, dtype=outs[0].dtype)
    ends = np.cumsum([len(out) for out in outs])
    pos = 0
    for text in read_text_chunks(str(path), chunk_bytes):
        ids = lookup[code_points(text)]
        if pos + len(ids) > ends[-1]:
            raise ValueError(f"{path} changed while it was being encoded")
        for out, end in zip(outs, ends, strict=True):  # the part of this chunk that falls in each out
            start = end - len(out)
            lo, hi = max(pos, start), min(pos + len(ids), end)
            if lo < hi:
                out[lo - start : hi - start] = ids[lo - pos : hi - pos]
        pos += len(ids)
    if pos != ends[-1]:
        raise ValueError(f"{path} changed while it was being encoded")
