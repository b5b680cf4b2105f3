import numpy as np
import pytest

from charrnn.data.vocab import Vocabulary
from charrnn.errors import VocabularyError


def test_vocabulary_is_the_sorted_set_of_characters():
    vocab = Vocabulary.from_text("banana\n")
    assert vocab.chars == "\nabn"
    assert vocab.size == 4


def test_encode_decode_round_trip_with_unicode():
    text = "héllo wörld 😀 中文\r\n"
    vocab = Vocabulary.from_text(text)
    ids = vocab.encode(text)
    assert vocab.decode(ids) == text
    assert ids.dtype == np.uint8
    assert ids.tolist() == [vocab.chars.index(c) for c in text]


def test_wide_vocabulary_uses_a_wider_integer_type():
    text = "".join(chr(0x4E00 + i) for i in range(300))
    vocab = Vocabulary.from_text(text)
    assert vocab.encode(text).dtype == np.uint16


def test_unknown_characters_are_listed():
    vocab = Vocabulary.from_text("abc")
    with pytest.raises(VocabularyError, match=r"2 character\(s\).*'x', 'z'"):
        vocab.encode("abxcz")
    assert vocab.unknown_chars("zzax") == "xz"


def test_vocabulary_must_be_sorted_and_distinct():
    with pytest.raises(VocabularyError):
        Vocabulary("ba")
