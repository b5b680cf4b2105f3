"""Big corpora: chunked encoding, the memory-mapped cache, and its invalidation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from charrnn.data.batching import stream_layout
from charrnn.data.cache import cache_dir
from charrnn.data.corpus import load_corpus
from charrnn.data.encode import encode_corpus, scan_corpus
from charrnn.data.vocab import Vocabulary
from charrnn.errors import VocabularyError

MIXED = "plain ASCII line\n" * 50 + "ümlaut, 鹿, 🦌 and more\n" * 30 + "back to ascii\n" * 40


def _entries() -> set[str]:
    return {p.name for p in cache_dir().glob("*.npy")} if cache_dir().exists() else set()


@pytest.mark.parametrize("chunk_bytes", [1, 7, 64, 1 << 20])  # chunks mix ASCII and wider text
def test_chunked_encoding_equals_encoding_the_whole_text(tmp_path: Path, chunk_bytes: int):
    path = tmp_path / "mixed.txt"
    path.write_text(MIXED, encoding="utf-8")
    scan = scan_corpus(path, chunk_bytes)
    assert (scan.num_chars, scan.chars, scan.first_nul) == (len(MIXED), "".join(sorted(set(MIXED))), -1)
    vocab = Vocabulary(scan.chars)
    out = np.empty(scan.num_chars, dtype=vocab.dtype)
    encode_corpus(path, vocab, [out], chunk_bytes)
    assert np.array_equal(out, vocab.encode(MIXED))


def test_a_cached_corpus_is_memory_mapped_and_equal_to_the_in_memory_one(tmp_path: Path):
    path = tmp_path / "c.txt"
    path.write_text(MIXED * 3, encoding="utf-8")
    in_memory = load_corpus(path, cache_min_bytes=1 << 40)
    assert not isinstance(in_memory.ids, np.memmap)
    first = load_corpus(path, cache_min_bytes=0)  # encodes into the cache
    again = load_corpus(path, cache_min_bytes=0)  # served from it
    for corpus in (first, again):
        assert isinstance(corpus.ids, np.memmap) and not corpus.ids.flags.writeable
        assert corpus.vocab == in_memory.vocab and corpus.files == in_memory.files
        assert np.array_equal(corpus.ids, in_memory.ids)
    # The same batches, window by window.
    mapped = stream_layout(again.split()[0], 4, 16)
    plain = stream_layout(in_memory.split()[0], 4, 16)
    assert mapped.windows_per_epoch == plain.windows_per_epoch
    for k in range(plain.windows_per_epoch):
        for a, b in zip(mapped.window(k), plain.window(k), strict=True):
            assert np.array_equal(a, b)


def test_the_cache_is_rebuilt_when_the_file_changes(tmp_path: Path):
    path = tmp_path / "c.txt"
    path.write_text("the red deer\n" * 100, encoding="utf-8")
    before = _entries()
    old = load_corpus(path, cache_min_bytes=0)
    assert len(_entries() - before) == 1
    path.write_text("the red dear\n" * 100, encoding="utf-8")  # same size, new content
    os.utime(path, ns=(0, 0))  # and an old modification time: only the content can tell
    new = load_corpus(path, cache_min_bytes=0)
    assert len(_entries() - before) == 2
    assert new.files[0].sha256 != old.files[0].sha256
    assert new.vocab.decode(new.ids[:12]) == "the red dear"
    assert old.vocab.decode(old.ids[:12]) == "the red deer"


def test_an_imposed_vocabulary_gets_its_own_entry_and_unknown_characters_are_refused(tmp_path: Path):
    path = tmp_path / "c.txt"
    path.write_text("abcabc\n" * 50, encoding="utf-8")
    wider = Vocabulary("\n Zabcd")  # the same characters, other ids
    own = load_corpus(path, cache_min_bytes=0)
    imposed = load_corpus(path, wider, cache_min_bytes=0)
    assert own.vocab.chars == "\nabc" and imposed.vocab is wider
    assert own.vocab.decode(own.ids) == imposed.vocab.decode(imposed.ids) == "abcabc\n" * 50
    assert not np.array_equal(own.ids, imposed.ids)  # different ids for the same text
    with pytest.raises(VocabularyError, match="1 character"):
        load_corpus(path, Vocabulary("\nab"), cache_min_bytes=0)


def test_an_unwritable_cache_falls_back_to_memory(tmp_path: Path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("CHARRNN_CACHE_DIR", str(blocker / "cache"))
    path = tmp_path / "c.txt"
    path.write_text(MIXED, encoding="utf-8")
    corpus = load_corpus(path, cache_min_bytes=0)
    assert not isinstance(corpus.ids, np.memmap)
    assert corpus.vocab.decode(corpus.ids) == MIXED


def test_a_nul_is_found_in_any_chunk(tmp_path: Path):
    path = tmp_path / "n.txt"
    path.write_text("x" * 1000 + "\0" + "y" * 10, encoding="utf-8")
    assert scan_corpus(path, 64).first_nul == 1000
