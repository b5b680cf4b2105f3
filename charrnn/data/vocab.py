"""The character vocabulary: build it from text, encode and decode, describe unknown characters."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from charrnn.errors import VocabularyError

# Between two documents of a corpus of several files (corpus.py): ASCII's "file separator", a
# control character that text files all but never hold.
DOCUMENT_SEPARATOR = "\x1c"


def code_points(text: str) -> np.ndarray:
    """Unicode code points of `text` without a Python object per character: uint8 for ASCII text
    (the common case, and four times smaller), else uint32."""
    if text.isascii():  # O(1) in CPython: the string knows its kind
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)


def describe_chars(chars: str, limit: int = 12) -> str:
    """A readable list of characters, invisible ones escaped: 'é', '\\t', '😀'."""
    shown = ", ".join(repr(c) for c in chars[:limit])
    more = len(chars) - limit
    return shown + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class Vocabulary:
    """The characters a model knows; character i has id i. Sorted when built from a text; a
    vocabulary grown by fine-tuning keeps its old ids and has the new characters appended."""

    chars: str

    def __post_init__(self) -> None:
        if not self.chars:
            raise VocabularyError("the vocabulary is empty")
        if len(set(self.chars)) != len(self.chars):
            raise VocabularyError("the vocabulary must hold distinct characters")

    def grown(self, text_chars: str) -> Vocabulary:
        """This vocabulary with the characters of `text_chars` it lacks appended, sorted among
        themselves: every old character keeps its id."""
        return Vocabulary(self.chars + self.unknown_chars(text_chars))

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        points = np.unique(code_points(text))
        return cls("".join(map(chr, points.tolist())))

    @property
    def size(self) -> int:
        return len(self.chars)

    @property
    def line_start(self) -> str:
        """What text with no context is taken to follow (sampling with no prime, scoring with no
        --context): the start of a document where the model learnt where documents start (the
        separator of a corpus of several files), else a new line, else a space, else the first
        character."""
        return next((c for c in (DOCUMENT_SEPARATOR, "\n", " ") if c in self.chars), self.chars[0])

    @cached_property
    def _points(self) -> np.ndarray:
        """Code point of each id."""
        return code_points(self.chars).astype(np.uint32)

    @cached_property
    def _sorted_points(self) -> np.ndarray:
        return np.sort(self._points)

    @cached_property
    def _id_of_sorted(self) -> np.ndarray:
        """The id of each of `_sorted_points` (the identity for a sorted vocabulary)."""
        return np.argsort(self._points, kind="stable")

    def _lookup(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids, known) of code points: ids of the unknown ones are arbitrary."""
        at = np.minimum(np.searchsorted(self._sorted_points, points), self.size - 1)
        return self._id_of_sorted[at], self._sorted_points[at] == points

    @property
    def dtype(self) -> np.dtype:
        """The narrowest unsigned integer type that holds every id."""
        return np.dtype(np.uint8 if self.size <= 256 else np.uint16 if self.size <= 65536 else np.uint32)

    def unknown_chars(self, text: str) -> str:
        """The distinct characters of `text` outside the vocabulary, sorted."""
        points = np.unique(code_points(text))
        known = np.isin(points, self._sorted_points)
        return "".join(map(chr, points[~known].tolist()))

    def encode(self, text: str) -> np.ndarray:
        """Ids of `text` as a compact array; raises VocabularyError listing unknown characters."""
        ids, known = self._lookup(code_points(text))
        if not known.all():
            unknown = self.unknown_chars(text)
            raise VocabularyError(
                f"{len(unknown)} character(s) not in the model's vocabulary: {describe_chars(unknown)}"
            )
        return ids.astype(self.dtype)

    def encode_known(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids of the known characters in order, positions in `text` of the unknown ones)."""
        ids, known = self._lookup(code_points(text))
        return ids[known].astype(self.dtype), np.flatnonzero(~known)

    def decode(self, ids: np.ndarray | list[int]) -> str:
        points = self._points[np.asarray(ids, dtype=np.int64)]
        return points.astype("<u4").tobytes().decode("utf-32-le", errors="surrogatepass")
