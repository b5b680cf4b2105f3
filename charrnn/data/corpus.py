"""A corpus: one UTF-8 text file, several, or a folder of them in; a compact integer array
(memory-mapped when big), the files' fingerprints and the train/validation split out.

Documents stay documents. Of a corpus of several files, each file gives its last `val_frac`
to the validation part and the rest to the training part, so that every document is measured
and the split depends on nothing but the files and `val_frac`; within each part the files follow
each other in order, a DOCUMENT_SEPARATOR between two of them, so that no window reads the end
of one file running into the start of the next unmarked. The array holds the training part,
then the validation part. One file is its own two parts, as it always was: no separator.

Files that are not text (not UTF-8, a NUL inside) or are empty are left out of a corpus of
several files, each named in `Corpus.skipped`; a corpus of one such file is an error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charrnn.data.cache import CACHE_MIN_BYTES, cache_dir, entry_name, load_entry, store_entry
from charrnn.data.encode import Scan, encode_corpus, scan_corpus
from charrnn.data.sources import corpus_files
from charrnn.data.vocab import DOCUMENT_SEPARATOR, Vocabulary, describe_chars
from charrnn.errors import CorpusError, VocabularyError
from charrnn.files import require_file
from charrnn.options import DEFAULT_VAL_FRAC

HASH_BLOCK = 8 << 20
Sources = str | Path | Sequence[str | Path]


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


def same_files(a: Sequence[Fingerprint], b: Sequence[Fingerprint]) -> bool:
    """The same contents in the same order (where the files are does not matter)."""
    return [f.sha256 for f in a] == [f.sha256 for f in b]


def describe_change(old: Sequence[Fingerprint], new: Sequence[Fingerprint]) -> str:
    """How the files `new` differ from `old`, for people: "a.txt changed, b.txt added"."""
    before, after = {f.path: f.sha256 for f in old}, {f.path: f.sha256 for f in new}
    parts = [f"{p} changed" for p in after if p in before and before[p] != after[p]]
    parts += [f"{p} added" for p in after if p not in before]
    parts += [f"{p} gone" for p in before if p not in after]
    if not parts:
        return "its files are in another order" if len(old) == len(new) else "its files differ"
    more = f" and {len(parts) - 3} more" if len(parts) > 3 else ""
    return ", ".join(parts[:3]) + more


@dataclass(frozen=True)
class Corpus:
    ids: np.ndarray  # (N,) uint8/uint16/uint32 character ids: the training part, then validation
    vocab: Vocabulary
    files: tuple[Fingerprint, ...]  # the files read, in order
    num_val: int  # the last num_val ids are the validation part
    val_frac: float  # what num_val was taken for
    skipped: tuple[str, ...] = ()  # one line for each file left out, naming it and why

    def split(self) -> tuple[np.ndarray, np.ndarray]:
        """(training part, validation part); a CorpusError where either would be too short."""
        num_train = len(self.ids) - self.num_val
        if self.num_val < 2:
            raise CorpusError(
                f"the corpus ({len(self.ids)} characters) is too short to hold out a validation part "
                f"of {self.val_frac:g}; use a longer corpus or a larger --val-frac"
            )
        if num_train < 2:
            raise CorpusError("no training text is left after the validation part; lower --val-frac")
        return self.ids[:num_train], self.ids[num_train:]


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


@dataclass(frozen=True)
class _Read:
    """What reading the candidate files found: which are text, their lengths, their characters."""

    used: list[int]  # indices of the candidates that are text
    num_chars: list[int]  # of each used file
    chars: str  # every used file's characters, and the separator if there are several
    skipped: list[str]


def _scan_all(paths: Sequence[Path]) -> _Read:
    """Scan each file; with several, one that is not text or is empty is skipped, not fatal."""
    several = len(paths) > 1
    used: list[int] = []
    counts: list[int] = []
    skipped: list[str] = []
    chars: set[str] = set()
    for i, path in enumerate(paths):
        try:
            scan = _scan_text(path)
        except CorpusError as e:
            if not several:
                raise
            skipped.append(f"skipped {path}: it is empty" if path.stat().st_size == 0 else f"skipped {e}")
            continue
        used.append(i)
        counts.append(scan.num_chars)
        chars.update(scan.chars)
    if not used:
        raise CorpusError(
            f"the corpus holds no text file: all {len(paths)} files were skipped ({skipped[0]}"
            + (", …)" if len(skipped) > 1 else ")")
        )
    if len(used) > 1:
        chars.add(DOCUMENT_SEPARATOR)
    return _Read(used, counts, "".join(sorted(chars)), skipped)


def _scan_text(path: Path) -> Scan:
    scan = scan_corpus(path)
    if scan.num_chars == 0:
        raise CorpusError(f"corpus is empty: {path}")
    if scan.first_nul >= 0:
        raise CorpusError(
            f"{path} holds a NUL character (at character {scan.first_nul}): a binary file, not text"
        )
    return scan


def _split_sizes(num_chars: Sequence[int], val_frac: float) -> list[tuple[int, int]]:
    """(training, validation) characters of each file: its last `val_frac` validates."""
    sizes = []
    for n in num_chars:
        num_val = int(round(n * val_frac))
        sizes.append((n - num_val, num_val))
    return sizes


def _joined_length(lengths: Sequence[int]) -> int:
    """Characters of the non-empty parts joined by a separator."""
    parts = [n for n in lengths if n]
    return sum(parts) + max(len(parts) - 1, 0)


def _fill(
    out: np.ndarray, paths: Sequence[Path], sizes: Sequence[tuple[int, int]], vocab: Vocabulary
) -> None:
    """Encode the files into `out`: their training parts, then their validation parts, each
    part joined to the one before by the separator."""
    num_train = _joined_length([t for t, _ in sizes])
    parts = [out[:num_train], out[num_train:]]
    at = [0, 0]
    separator = vocab.chars.find(DOCUMENT_SEPARATOR)
    for path, file_sizes in zip(paths, sizes, strict=True):
        views = []
        for k, n in enumerate(file_sizes):
            if n and at[k]:
                parts[k][at[k]] = separator
                at[k] += 1
            views.append(parts[k][at[k] : at[k] + n])
            at[k] += n
        encode_corpus(path, vocab, views)


def load_corpus(
    sources: Sources,
    vocab: Vocabulary | None = None,
    cache_min_bytes: int = CACHE_MIN_BYTES,
    grow: bool = False,
    val_frac: float = DEFAULT_VAL_FRAC,
    check_files: Callable[[tuple[Fingerprint, ...]], None] | None = None,
) -> Corpus:
    """Read and encode a corpus (a file, or the files of several paths and folders: sources.py),
    with its own vocabulary or a given one (fine-tuning, resuming); `grow`: the given one with
    the corpus's new characters appended (fine-tuning), else they are refused. `check_files` sees
    the fingerprints of the files used before their characters are checked (e.g. to refuse a
    changed corpus first).

    Corpora of `cache_min_bytes` or more are encoded once into the cache (cache.py) and
    memory-mapped from there; smaller ones are encoded in memory. Either way the text is never
    held whole as a Python string, and each file is read on its own.
    """
    paths = corpus_files([sources] if isinstance(sources, str | Path) else sources)
    prints = [fingerprint_file(p) for p in paths]
    read = _scan_all(paths) if vocab is not None and grow else None  # the new characters
    if read is not None and vocab is not None:
        vocab = vocab.grown(read.chars)
    num_bytes = sum(f.size for f in prints)
    cached = num_bytes >= cache_min_bytes
    name = entry_name(content_key(prints, val_frac), vocab.chars if vocab is not None else None)
    if cached and read is None and (hit := load_entry(cache_dir(), name, num_bytes)) is not None:
        ids, record = hit
        used = record.get("used", [0])
        files = tuple(prints[i] for i in used)
        if check_files is not None:
            check_files(files)
        num_val = record.get("num_val", int(round(len(ids) * val_frac)))
        skipped = tuple(record.get("skipped", ()))
        return Corpus(ids, vocab or Vocabulary(record["chars"]), files, num_val, val_frac, skipped)
    read = read or _scan_all(paths)
    files = tuple(prints[i] for i in read.used)
    if check_files is not None:
        check_files(files)
    if vocab is None:
        vocab = Vocabulary(read.chars)
    elif unknown := vocab.unknown_chars(read.chars):
        raise VocabularyError(
            f"{len(unknown)} character(s) not in the model's vocabulary: {describe_chars(unknown)}"
        )
    sizes = _split_sizes(read.num_chars, val_frac)
    num_train, num_val = (_joined_length([s[k] for s in sizes]) for k in (0, 1))
    used_paths, known = [paths[i] for i in read.used], vocab

    def fill(out: np.ndarray) -> None:
        _fill(out, used_paths, sizes, known)

    total = num_train + num_val
    encoded: np.ndarray | None = None
    if cached:
        extra = {"used": read.used, "num_val": num_val, "skipped": read.skipped}
        encoded = store_entry(cache_dir(), name, total, num_bytes, vocab.chars, vocab.dtype, fill, extra)
    if encoded is None:
        encoded = np.empty(total, dtype=vocab.dtype)
        fill(encoded)
    return Corpus(encoded, vocab, files, num_val, val_frac, tuple(read.skipped))


def content_key(prints: Sequence[Fingerprint], val_frac: float) -> str:
    """What names a corpus (e.g. its cache entry): one file's sha256 (its array does not depend on the
    split), or a digest of several files' and the split they were laid out for."""
    if len(prints) == 1:
        return prints[0].sha256
    digest = hashlib.sha256(repr(float(val_frac)).encode())
    for f in prints:
        digest.update(bytes.fromhex(f.sha256))
    return digest.hexdigest()
