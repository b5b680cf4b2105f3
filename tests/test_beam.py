"""Beam search (`charrnn sample --beam K`, `Model.sample(beam=K)`, the serve API): the most
probable continuation K hypotheses find, checked against a plain forward pass's log-probability,
against every continuation of a tiny model, and against greedy, which it never falls below."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import invoke

import charrnn
from charrnn.data.vocab import Vocabulary
from charrnn.errors import ConfigError
from charrnn.generate.beam import beam_search
from charrnn.generate.sampling import SampleConfig
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN


def _log_prob(model: CharRNN, prime: np.ndarray, continuation: np.ndarray) -> float:
    """log p(continuation | prime) from one forward pass over both (the reference)."""
    ids = torch.from_numpy(np.concatenate([prime, continuation]).astype(np.int64))[None]
    with torch.no_grad():
        logits, _ = model(ids)
    logp = torch.log_softmax(logits[0].double(), dim=-1)
    targets = ids[0, len(prime) :]
    return float(logp[len(prime) - 1 : len(prime) - 1 + len(continuation)].gather(1, targets[:, None]).sum())


def _model(cell: str, vocab: int, seed: int = 0, scale: float = 3.0) -> CharRNN:
    torch.manual_seed(seed)
    model = CharRNN(
        ModelConfig(vocab_size=vocab, cell=cell, num_layers=2, hidden_size=8, embed_size=4)
    ).eval()
    with torch.no_grad():  # peaked, varied predictions: greedy and beam part ways
        for p in model.parameters():
            p.mul_(scale)
    return model


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "mlstm"])
def test_beam_search_finds_every_continuation_s_best_on_a_tiny_model(cell):
    """Vocabulary 3, length 5: a beam of 3**5 holds every continuation, so the search must find
    the most probable one of all 243 (scored by a plain forward pass)."""
    model, vocab = _model(cell, 3), Vocabulary("abc")
    prime = np.array([0, 2])
    found = beam_search(model, vocab, prime, length=5, beam=3**5)
    everything = [np.array(c) for c in itertools.product(range(3), repeat=5)]
    best = max(everything, key=lambda c: _log_prob(model, prime, c))
    assert found.ids.tolist() == best.tolist()
    assert found.log_prob == pytest.approx(_log_prob(model, prime, best), abs=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru", "mlstm"])
@pytest.mark.parametrize("seed", range(4))
def test_beam_search_is_never_less_likely_than_greedy_and_scores_what_it_returns(cell, seed):
    # Weights x2, not x3: at x3 the multiplicative cells are chaotic, and the float32 rounding of
    # one character at a time against a whole sequence grows to 1e-4 nats in 40 (Xeon, AMX).
    model, vocab = _model(cell, 6, seed, scale=2.0), Vocabulary("abcdef")
    prime = np.array([1, 4, 2])
    greedy = beam_search(model, vocab, prime, length=40, beam=1)
    for beam in (2, 5):
        found = beam_search(model, vocab, prime, length=40, beam=beam)
        assert len(found.ids) == 40
        assert found.log_prob == pytest.approx(_log_prob(model, prime, found.ids), abs=1e-4)
        assert found.log_prob >= greedy.log_prob - 1e-9
    # a beam of one is greedy: the likeliest character every time
    logits = []
    with torch.no_grad():
        out, _ = model(torch.from_numpy(np.concatenate([prime, greedy.ids[:-1]]))[None])
        logits = out[0, len(prime) - 1 :]
    assert greedy.ids.tolist() == logits.argmax(-1).tolist()


def test_beam_search_ends_after_the_stop_text_and_is_deterministic():
    model, vocab = _model("gru", 6, 1), Vocabulary("abcdef")
    prime = np.array([0])
    unstopped = beam_search(model, vocab, prime, length=60, beam=4)
    text = vocab.decode(unstopped.ids.tolist())
    stop = text[10:12]  # occurs in the unstopped text, so a stopped search can end on it
    found = beam_search(model, vocab, prime, length=60, beam=4, stop=stop)
    stopped = vocab.decode(found.ids.tolist())
    assert stopped.endswith(stop) and stop not in stopped[:-1]
    assert found.log_prob >= unstopped.log_prob  # a shorter text ending at the stop: more probable
    again = beam_search(model, vocab, prime, length=60, beam=4, stop=stop)
    assert again.ids.tolist() == found.ids.tolist() and again.log_prob == found.log_prob


@pytest.fixture(scope="module")
def model(overfit_dir: Path) -> charrnn.Model:
    return charrnn.load(overfit_dir / "best.pt")


def test_the_commands_and_the_api_give_the_beam_s_text(model: charrnn.Model, overfit_dir: Path):
    text = model.sample(30, prime="the red", beam=4)
    assert len(text) == 30 and text == model.sample(30, prime="the red", beam=4, seed=1, temperature=2)
    result = invoke(
        "sample",
        "--checkpoint",
        str(overfit_dir / "best.pt"),
        "--prime",
        "the red",
        "--length",
        "30",
        "--beam",
        "4",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "the red" + text + ("" if text.endswith("\n") else "\n")


def test_beam_search_with_top_k_is_refused():  # the others: tests/test_bad_inputs.py
    with pytest.raises(ConfigError, match="not with --num-samples, --top-k or --top-p"):
        SampleConfig(beam=2, top_k=3)


def test_a_beam_config_out_of_range_is_refused():
    with pytest.raises(ConfigError, match="--beam must be <= 1024"):
        SampleConfig(beam=1025)
