from pathlib import Path

import pytest

from charrnn.data.corpus import load_corpus
from charrnn.errors import CorpusError


def test_bom_is_stripped(tmp_path: Path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffabc".encode())
    corpus = load_corpus(path)
    assert corpus.vocab.chars == "abc"
    assert len(corpus.ids) == 3


def test_invalid_utf8_names_the_byte_offset(tmp_path: Path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"hello \xff world")
    with pytest.raises(CorpusError, match="byte offset 6"):
        load_corpus(path)


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf"])
def test_empty_corpus_is_refused(tmp_path: Path, content: bytes):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=r"^corpus is empty: "):
        load_corpus(path)


def test_missing_and_directory(tmp_path: Path):
    with pytest.raises(CorpusError, match=r"^corpus not found: .*nope\.txt$"):
        load_corpus(tmp_path / "nope.txt")
    with pytest.raises(CorpusError, match=r"^corpus folder holds no files \(hidden ones are left out\): "):
        load_corpus(tmp_path)


def test_fingerprint_changes_with_content(tmp_path: Path):
    path = tmp_path / "a.txt"
    path.write_text("abcd")
    first = load_corpus(path).files[0]
    path.write_text("abce")
    assert load_corpus(path).files[0].sha256 != first.sha256


def test_validation_is_the_contiguous_tail(tmp_path: Path):
    text = "".join(chr(0x100 + i) for i in range(1000))  # each character once: ids in text order
    (tmp_path / "c.txt").write_text(text, encoding="utf-8")
    corpus = load_corpus(tmp_path / "c.txt", val_frac=0.1)
    assert corpus.vocab.decode(corpus.split()[1]) == text[900:]
    assert corpus.vocab.decode(corpus.split()[0]) == text[:900]
