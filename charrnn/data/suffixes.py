"""A suffix array of a text's ids: where each verbatim span of another text occurs in it.

Built once with NumPy by prefix doubling (each round sorts the suffixes by their first 2k
characters, from the ranks of the first k; about a second for Tiny Shakespeare) and cached
beside the encoded corpora (data/cache.py), so later look-ups only memory-map it. A query gets
its matching statistics: at each position, the longest prefix of the rest of the query found
anywhere in the text, by binary search over the sorted suffixes.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charrnn.data.cache import cache_dir
from charrnn.files import atomic_write

FIRST_PROBE = 256  # characters of the query compared at first; doubled while all of them match


def suffix_array(ids: np.ndarray) -> np.ndarray:
    """The start positions of the suffixes of `ids`, in lexicographic order (a shorter suffix
    before a longer one it is a prefix of)."""
    n = len(ids)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rank = np.unique(ids, return_inverse=True)[1].astype(np.int64).reshape(-1)  # 0 … distinct - 1
    order = np.argsort(rank, kind="stable")
    span = 1
    while True:
        # Sort by (rank of the first `span` characters, rank of the next `span`), as one key; past
        # the end counts as -1, before everything. (n + 1)² fits an int64 for n below 3e9.
        after = np.full(n, -1, dtype=np.int64)
        after[: max(0, n - span)] = rank[span:]
        key = rank * (n + 1) + (after + 1)
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.concatenate([[0], np.cumsum(ordered[1:] != ordered[:-1])])
        if rank[order[-1]] == n - 1 or span >= n:  # every suffix told apart
            break
        span *= 2
    return order.astype(np.int32 if n < 2**31 else np.int64)


@dataclass(frozen=True)
class Matches:
    """Matching statistics of a query against a text."""

    lengths: np.ndarray  # (Q,) at each query position, the longest prefix of the rest found in the text
    where: np.ndarray  # (Q,) a text position where that prefix occurs


class SuffixIndex:
    """A text's ids and its suffix array; answers where spans of a query occur in the text."""

    def __init__(self, ids: np.ndarray, order: np.ndarray) -> None:
        self.ids, self.order = ids, order
        # Big-endian bytes of fixed width sort as the id sequences do, so bytes compare the suffixes.
        self.width = ids.dtype.itemsize
        self.bytes = np.ascontiguousarray(ids).astype(ids.dtype.newbyteorder(">")).tobytes()

    def _key(self, probe_len: int):
        w = self.width
        return lambda position: self.bytes[int(position) * w : int(position) * w + probe_len]

    def longest_at(self, query: np.ndarray) -> tuple[int, int]:
        """(length, text position) of the longest prefix of `query` that occurs in the text."""
        cap = FIRST_PROBE
        while True:
            probe = query[:cap]
            raw = probe.astype(self.ids.dtype.newbyteorder(">")).tobytes()
            i = bisect.bisect_left(self.order, raw, key=self._key(len(raw)))
            best, where = 0, 0
            # The suffixes sharing the longest prefix with the probe sort right beside it.
            for j in (i - 1, i):
                if 0 <= j < len(self.order):
                    position = int(self.order[j])
                    other = self.ids[position : position + len(probe)]
                    differ = np.flatnonzero(probe[: len(other)] != other)
                    common = int(differ[0]) if len(differ) else len(other)
                    if common > best:
                        best, where = common, position
            if best < len(probe) or len(probe) == len(query):
                return best, where
            cap *= 2

    def occurs(self, span: np.ndarray) -> bool:
        return self.longest_at(span)[0] == len(span)

    def matches(self, query: np.ndarray) -> Matches:
        """The matching statistics of `query`. A match from i, query[i:end], holds from each j
        inside it too, with end - j characters; the match from j is longer only if query[j:end + 1]
        occurs, and then it does from every later j as well. So the positions inside a match are
        settled by a binary search for the first such j, not by a look-up each (which would cost
        a long copied span its length squared)."""
        lengths = np.zeros(len(query), dtype=np.int64)
        where = np.zeros(len(query), dtype=np.int64)
        i = 0
        while i < len(query):
            lengths[i], where[i] = self.longest_at(query[i:])
            end = i + int(lengths[i])  # query[i:end] occurs at where[i]
            high = max(i + 1, end)  # the first j in (i, end] whose match goes past end: low
            low = high if end == len(query) else i + 1  # past the query's end, none does
            while low < high:
                middle = (low + high) // 2
                low, high = (low, middle) if self.occurs(query[middle : end + 1]) else (middle + 1, high)
            inside = np.arange(i + 1, low)
            lengths[inside], where[inside] = end - inside, where[i] + (inside - i)
            i = low
        return Matches(lengths, where)


def cached_index(
    ids: np.ndarray, name: str, on_build: Callable[[], None] = lambda: None, directory: Path | None = None
) -> SuffixIndex:
    """The suffix index of `ids`, from `name`.suffixes.npy in the cache directory if it is there
    (memory-mapped), else built (`on_build` told first) and stored there; built in memory alone
    if the directory cannot be written. `name` must identify the ids (a corpus entry and part)."""
    path = (directory or cache_dir()) / f"{name}.suffixes.npy"
    try:
        order = np.load(path, mmap_mode="r")
        if order.ndim == 1 and len(order) == len(ids) and order.dtype.kind == "i":
            return SuffixIndex(ids, order)
    except (OSError, ValueError):
        pass
    on_build()
    order = suffix_array(ids)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.save(f, order))
    except OSError:
        pass  # a read-only cache: the index is rebuilt next time
    return SuffixIndex(ids, order)
