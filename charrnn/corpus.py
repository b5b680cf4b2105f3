"""Reading a corpus: UTF-8 text in, a compact integer array, its fingerprint and its train/val split out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charrnn.errors import CorpusError
from charrnn.utf8 import decode_utf8, read_bytes
from charrnn.vocab import Vocabulary


@dataclass(frozen=True)
class Fingerprint:
    """Identifies a corpus file's content: resuming on a different text is refused."""

    path: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, str | int]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, d: dict) -> Fingerprint:
        return cls(path=str(d["path"]), size=int(d["size"]), sha256=str(d["sha256"]))


@dataclass(frozen=True)
class Corpus:
    ids: np.ndarray  # (N,) uint8/uint16/uint32 character ids
    vocab: Vocabulary
    fingerprint: Fingerprint


def check_is_text(text: str, source: str) -> None:
    """A NUL character never occurs in text: its presence means a binary file was given."""
    nul = text.find("\0")
    if nul >= 0:
        raise CorpusError(f"{source} holds a NUL character (at character {nul}): a binary file, not text")


def fingerprint_of(path: Path, data: bytes) -> Fingerprint:
    return Fingerprint(str(path), len(data), hashlib.sha256(data).hexdigest())


def load_corpus(path: Path, vocab: Vocabulary | None = None) -> Corpus:
    """Read and encode a corpus, with its own vocabulary or a given one (fine-tuning, resuming)."""
    data = read_bytes(path)
    text = decode_utf8(data, str(path))
    if not text:
        raise CorpusError(f"corpus is empty: {path}")
    check_is_text(text, str(path))
    vocab = vocab or Vocabulary.from_text(text)
    ids = vocab.encode(text)
    return Corpus(ids=ids, vocab=vocab, fingerprint=fingerprint_of(path, data))


def split_train_val(ids: np.ndarray, val_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """The last `val_frac` of the text, contiguous, is validation; it depends on nothing else."""
    num_val = int(round(len(ids) * val_frac))
    if num_val < 2:
        raise CorpusError(
            f"the corpus ({len(ids)} characters) is too short to hold out a validation part "
            f"of {val_frac:g}; use a longer corpus or a larger --val-frac"
        )
    if len(ids) - num_val < 2:
        raise CorpusError("no training text is left after the validation part; lower --val-frac")
    return ids[: len(ids) - num_val], ids[len(ids) - num_val :]
