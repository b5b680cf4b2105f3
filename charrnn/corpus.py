"""Reading a corpus: UTF-8 text in, a compact integer array, its fingerprint and its train/val split out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charrnn.errors import CorpusError
from charrnn.vocab import Vocabulary

BOM = "\ufeff"

# Files that are not UTF-8 text but are often passed by mistake, by their first bytes; consulted
# only once the bytes have failed to decode (a text may well begin with "BZh").
NOT_TEXT = {
    b"\x1f\x8b": "gzip-compressed: decompress it first",
    b"BZh": "bzip2-compressed: decompress it first",
    b"\xfd7zXZ": "xz-compressed: decompress it first",
    b"PK\x03\x04": "a zip archive: extract it first",
    b"%PDF": "a PDF document: extract its text first",
    b"\xff\xfe": "UTF-16 text: convert it, e.g. iconv -f UTF-16 -t UTF-8",
    b"\xfe\xff": "UTF-16 text: convert it, e.g. iconv -f UTF-16 -t UTF-8",
}


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


def read_bytes(path: Path, what: str = "corpus") -> bytes:
    """The bytes of a text file; `what` names it in errors ("corpus", "prime file")."""
    if not path.exists():
        raise CorpusError(f"{what} not found: {path}")
    if path.is_dir():
        raise CorpusError(f"{what} is a directory, not a text file: {path}")
    try:
        return path.read_bytes()
    except OSError as e:
        raise CorpusError(f"cannot read {what} {path}: {e.strerror or e}") from None


def decode_utf8(data: bytes, source: str) -> str:
    """Strict UTF-8 decoding with a leading byte-order mark removed."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        where = f"byte 0x{data[e.start]:02x} at byte offset {e.start}"
        raise not_utf8_error(source, data[:8], where) from None
    return text[1:] if text.startswith(BOM) else text


def not_utf8_error(source: str, head: bytes, where: str) -> CorpusError:
    """The error for bytes that do not decode: what the file seems to be (by `head`, its first
    bytes) and what to do, else where the first bad byte is."""
    for magic, what in NOT_TEXT.items():
        if head.startswith(magic):
            return CorpusError(f"{source} is not UTF-8 text: it looks {what}")
    return CorpusError(f"{source} is not valid UTF-8: {where}")


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
