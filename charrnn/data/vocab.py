"""The character vocabulary: build it from text, encode and decode, describe unknown characters."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from charrnn.errors import VocabularyError


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
    """The sorted set of characters a model knows; character i has id i."""

    chars: str

    def __post_init__(self) -> None:
        if not self.chars:
            raise VocabularyError("the vocabulary is empty")
        if "".join(sorted(set(self.chars))) != self.chars:
            raise VocabularyError("the vocabulary must hold distinct characters in sorted order")

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
        --context): a new line, else a space, else the first character."""
        return next((c for c in ("\n", " ") if c in self.chars), self.chars[0])

    @cached_property
    def _sorted_points(self) -> np.ndarray:
        return code_points(self.chars).astype(np.uint32)

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
        points = code_points(text)
        ids = np.searchsorted(self._sorted_points, points)
        ids = np.minimum(ids, self.size - 1)
        if not np.array_equal(self._sorted_points[ids], points):
            unknown = self.unknown_chars(text)
            raise VocabularyError(
                f"{len(unknown)} character(s) not in the model's vocabulary: {describe_chars(unknown)}"
            )
        return ids.astype(self.dtype)

    def encode_known(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids of the known characters in order, positions in `text` of the unknown ones)."""
        points = code_points(text)
        ids = np.minimum(np.searchsorted(self._sorted_points, points), self.size - 1)
        known = self._sorted_points[ids] == points
        return ids[known].astype(self.dtype), np.flatnonzero(~known)

    def decode(self, ids: np.ndarray | list[int]) -> str:
        points = self._sorted_points[np.asarray(ids, dtype=np.int64)]
        return points.astype("<u4").tobytes().decode("utf-32-le", errors="surrogatepass")
