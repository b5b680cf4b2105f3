"""Surprise per character (measure/surprise.py): bits that add up to what `charrnn score` says of
the same text, the model's own five guesses in each place, the state carried across chunks, unknown
characters refused or left uncoloured."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from conftest import PHRASE

from charrnn.data.vocab import Vocabulary
from charrnn.errors import VocabularyError
from charrnn.measure.loss import LN2
from charrnn.measure.score import score_candidates
from charrnn.measure.surprise import bits_per_char, char_surprises
from charrnn.model.checkpoint import LoadedModel, load_model
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN
from charrnn.options import KEYWORDS

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def loaded(overfit_dir: Path) -> LoadedModel:
    return load_model(overfit_dir / "best.pt", CPU)


def _surprises(loaded: LoadedModel, text: str, **options):
    return char_surprises(loaded.network, loaded.vocab, text, CPU, **options)


@pytest.mark.parametrize("context", ["", "the red "])
def test_the_bits_add_up_to_the_texts_score(loaded: LoadedModel, context: str):
    text = "deer runs; the dear waits"
    surprises = _surprises(loaded, text, context=context)
    [scored] = score_candidates(loaded.network, loaded.vocab, [text], context, CPU)
    assert [s.char for s in surprises] == list(text)
    assert sum(s.bits for s in surprises if s.bits is not None) * LN2 == pytest.approx(scored.nats, rel=1e-5)


def test_a_uniform_model_is_log2_v_bits_surprised_by_everything():
    vocab = Vocabulary("abcdefghi")
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=vocab.size, cell="gru", num_layers=1, hidden_size=8)).eval()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    surprises = char_surprises(model, vocab, "badge", CPU, context="a")
    assert all(s.bits == pytest.approx(math.log2(9), rel=1e-6) for s in surprises)
    assert all(len(s.guesses) == 5 for s in surprises)
    assert all(p == pytest.approx(1 / 9) for s in surprises for _, p in s.guesses)


def test_the_top_five_are_the_models_likeliest_characters_in_order(loaded: LoadedModel):
    surprises = _surprises(loaded, PHRASE * 2)
    for s in surprises:
        probabilities = [p for _, p in s.guesses]
        assert len(s.guesses) == 5 and len({c for c, _ in s.guesses}) == 5
        assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1 + 1e-6
        assert s.probability is not None and s.probability <= probabilities[0] + 1e-6
        if s.char in dict(s.guesses):  # the character's own probability, as the guesses give it
            assert dict(s.guesses)[s.char] == pytest.approx(s.probability, rel=1e-4)
    # the overfitted model expected almost every character of the phrase it learned by heart
    assert sum(s.guesses[0][0] == s.char for s in surprises) >= 0.95 * len(surprises)
    assert bits_per_char(surprises) < 0.3


def test_the_state_is_carried_from_chunk_to_chunk(loaded: LoadedModel):
    text, context = PHRASE * 3, "the red deer "
    whole = _surprises(loaded, text, context=context)  # one chunk
    for chunk_len in (1, 5, 37):  # chunks that end inside the context, at its end, inside the text
        chunked = _surprises(loaded, text, context=context, chunk_len=chunk_len)
        assert [s.bits for s in chunked] == pytest.approx([s.bits for s in whole], rel=1e-4, abs=1e-5)
        assert [s.guesses for s in chunked][-1][0][0] == whole[-1].guesses[0][0]


def test_unknown_characters_are_refused_or_left_without_a_surprise(loaded: LoadedModel):
    with pytest.raises(VocabularyError, match=r"'R' at character position\(s\) 4"):
        _surprises(loaded, "the Red deer")
    skipped = _surprises(loaded, "the Red deer", unknown="skip")
    r = skipped[4]
    assert (r.char, r.bits, r.guesses, r.probability) == ("R", None, (), None)
    without = _surprises(loaded, "the ed deer")
    assert [s.bits for s in skipped if s.bits is not None] == pytest.approx([s.bits for s in without])
    assert _surprises(loaded, "") == [] and bits_per_char(_surprises(loaded, "RR", unknown="skip")) is None
    with pytest.raises(VocabularyError, match=r"^--context: 1 character\(s\) not in"):
        _surprises(loaded, "the", context="The ")
    with pytest.raises(VocabularyError, match=r"\(--unknown skip drops them\)$"):
        _surprises(loaded, "the Red")
    # named as the HTTP API's fields, where the server asks for that
    with pytest.raises(VocabularyError, match=r"^context: 1 character\(s\) not in"):
        _surprises(loaded, "the", context="The ", names=KEYWORDS)
    with pytest.raises(VocabularyError, match=r'\(set unknown to "skip" to drop them\)$'):
        _surprises(loaded, "the Red", names=KEYWORDS)


def test_the_answer_as_data(loaded: LoadedModel):
    [first] = _surprises(loaded, "t", guesses=2)
    d = first.to_dict()
    assert d["char"] == "t" and isinstance(d["bits"], float)
    assert [c for c, _ in d["guesses"]] == [c for c, _ in first.guesses] and len(d["guesses"]) == 2
