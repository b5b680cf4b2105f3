"""A corpus: UTF-8 text in; a compact integer array (memory-mapped when big), its fingerprint
and its train/val split out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charrnn.data.cache import CACHE_MIN_BYTES, cache_dir, entry_name, load_entry, store_entry
from charrnn.data.encode import encode_corpus, scan_corpus
from charrnn.data.vocab import Vocabulary, describe_chars
from charrnn.errors import CorpusError, VocabularyError
from charrnn.files import require_file

HASH_BLOCK = 8 << 20


@dataclass(frozen=True)
class Fingerprint:
    """Identifies a corpus file's content: resuming on a different text is refused."""

    path: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, str | int]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}

    def same_content(self, other: Fingerprint) -> bool:
        return self.sha256 == other.sha256

    @classmethod
    def from_dict(cls, d: dict) -> Fingerprint:
        return cls(path=str(d["path"]), size=int(d["size"]), sha256=str(d["sha256"]))


@dataclass(frozen=True)
class Corpus:
    ids: np.ndarray  # (N,) uint8/uint16/uint32 character ids
    vocab: Vocabulary
    fingerprint: Fingerprint


def fingerprint_file(path: Path) -> Fingerprint:
    """Path, size and sha256 of a corpus file, read in blocks (any size, bounded memory)."""
    require_file(path, "corpus", CorpusError)
    digest, size = hashlib.sha256(), 0
    try:
        with path.open("rb") as f:
            while block := f.read(HASH_BLOCK):
                digest.update(block)
                size += len(block)
    except OSError as e:
        raise CorpusError(f"cannot read corpus {path}: {e.strerror or e}") from None
    return Fingerprint(str(path), size, digest.hexdigest())


def load_corpus(
    path: Path,
    vocab: Vocabulary | None = None,
    cache_min_bytes: int = CACHE_MIN_BYTES,
    fingerprint: Fingerprint | None = None,
    grow: bool = False,
) -> Corpus:
    """Read and encode a corpus, with its own vocabulary or a given one (fine-tuning, resuming);
    `grow`: the given one with the corpus's new characters appended (fine-tuning), else they
    are refused.

    Files of `cache_min_bytes` or more are encoded once into the cache (corpus_cache.py) and
    memory-mapped from there; smaller ones are encoded in memory. Either way the text is never
    held whole as a Python string. `fingerprint`: the file's, if the caller has just taken it.
    """
    fingerprint = fingerprint or fingerprint_file(path)
    scan = scan_corpus(path) if vocab is not None and grow else None  # the new characters
    if scan is not None and vocab is not None:
        vocab = vocab.grown(scan.chars)
    cached = fingerprint.size >= cache_min_bytes
    name = entry_name(fingerprint.sha256, vocab.chars if vocab is not None else None)
    if cached and (hit := load_entry(cache_dir(), name, fingerprint.size)) is not None:
        ids, chars = hit
        return Corpus(ids=ids, vocab=vocab or Vocabulary(chars), fingerprint=fingerprint)
    scan = scan or scan_corpus(path)
    if scan.num_chars == 0:
        raise CorpusError(f"corpus is empty: {path}")
    if scan.first_nul >= 0:
        raise CorpusError(
            f"{path} holds a NUL character (at character {scan.first_nul}): a binary file, not text"
        )
    if vocab is None:
        vocab = Vocabulary(scan.chars)
    elif unknown := vocab.unknown_chars(scan.chars):
        raise VocabularyError(
            f"{len(unknown)} character(s) not in the model's vocabulary: {describe_chars(unknown)}"
        )
    known = vocab

    def fill(out: np.ndarray) -> None:
        encode_corpus(path, known, out)

    encoded: np.ndarray | None = None
    if cached:
        encoded = store_entry(
            cache_dir(), name, scan.num_chars, fingerprint.size, vocab.chars, vocab.dtype, fill
        )
    if encoded is None:
        encoded = np.empty(scan.num_chars, dtype=vocab.dtype)
        fill(encoded)
    return Corpus(ids=encoded, vocab=vocab, fingerprint=fingerprint)


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
