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


def test_vocabulary_must_be_distinct_and_a_grown_one_keeps_its_old_ids():
    with pytest.raises(VocabularyError):
        Vocabulary("abca")
    grown = Vocabulary("acz").grown("zébra\n")
    assert grown.chars == "acz\nbré"  # the old ids, then the new characters sorted
    text = "crazé\nbaz"
    ids = grown.encode(text)
    assert [grown.chars[i] for i in ids.tolist()] == list(text) and grown.decode(ids) == text
    known, unknown_at = grown.encode_known("cab!x")
    assert grown.decode(known) == "cab" and unknown_at.tolist() == [3, 4]
    assert grown.unknown_chars("zoë") == "oë"
    with pytest.raises(VocabularyError, match="'o'"):
        grown.encode("zoo")


@pytest.mark.parametrize("cell", ["gru", "mlstm"])
def test_grown_weights_keep_every_old_prediction_and_start_new_characters_as_the_rarest(cell):
    import torch

    from charrnn.model.config import ModelConfig
    from charrnn.model.grow import grown_weights
    from charrnn.model.network import CharRNN

    torch.manual_seed(0)
    sizes = {"cell": cell, "num_layers": 2, "hidden_size": 8, "embed_size": 4}
    old = CharRNN(ModelConfig(vocab_size=5, **sizes)).eval()
    new = CharRNN(ModelConfig(vocab_size=7, **sizes)).eval()
    new.load_state_dict(grown_weights(new, old.state_dict(), 5))
    ids = torch.randint(0, 5, (2, 9))
    with torch.no_grad():
        before, after = old(ids)[0], new(ids)[0]
    assert torch.equal(after[..., :5], before)  # every old character's logit, exactly
    assert torch.allclose(new.embedding.weight[5:], old.embedding.weight.mean(0).expand(2, -1))
    assert torch.equal(new.head.bias[5:], old.head.bias.min().expand(2))
