"""What `charrnn visualize` reads from a model: every unit's state per character (held to the
network's own forward pass), the surprise (held to `charrnn score`), the features,
and the probe (held to NumPy's Pearson r, and to a unit a trained LSTM grows for quotes)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config

from charrnn.inspect.features import (
    FEATURES,
    after_punctuation,
    bracket_depth,
    in_quotes,
    line_position,
    speaker_line,
    word_start,
)
from charrnn.inspect.probe import Correlations, best_units
from charrnn.inspect.trace import linear_scan, trace
from charrnn.inspect.units import UnitLayout, UnitRef
from charrnn.inspect.visualize import ShownText, read_model
from charrnn.measure.score import score_candidates
from charrnn.model.checkpoint import Checkpoint, LoadedModel, load_model
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN
from charrnn.train.loop import train

CELLS = ["lstm", "gru", "rnn", "mrnn", "mlstm"]
CPU = torch.device("cpu")


def random_model(cell: str, vocab_size: int = 11, layers: int = 2, hidden: int = 12) -> CharRNN:
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=vocab_size, cell=cell, num_layers=layers, hidden_size=hidden, embed_size=6
    )
    return CharRNN(config).eval()


AFTER = np.array([3, 5])  # what the traced texts follow


def traced(model: CharRNN, ids: np.ndarray, chunk_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    chunks = list(trace(model, ids, CPU, AFTER, chunk_len=chunk_len))
    return torch.cat([c.activations for c in chunks]), torch.cat([c.log_probs for c in chunks])


@pytest.mark.parametrize("cell", CELLS)
def test_every_layers_state_after_each_character_is_the_networks_own(cell):
    """Column by column, the trace equals the state the model itself reaches after each prefix of
    the text (its forward pass on AFTER + ids[: t + 1]): every layer, h and (LSTM, mLSTM) c, with
    the state carried across chunks of 7 characters; and the log-probabilities at t are the
    model's for the character at t, given AFTER + ids[:t]."""
    model = random_model(cell)
    ids = np.random.default_rng(1).integers(0, 11, 30)
    activations, log_probs = traced(model, ids, chunk_len=7)
    layout = UnitLayout.of(model.config)
    assert activations.shape == (30, layout.count)
    with torch.no_grad():
        for t in range(len(ids)):
            before, _ = model(torch.from_numpy(np.concatenate([AFTER, ids[:t]]))[None])
            logits, state = model(torch.from_numpy(np.concatenate([AFTER, ids[: t + 1]]))[None])
            for layer in range(1, 3):
                for s, values in zip(("h", "c"), state, strict=False):
                    if s not in layout.states:
                        continue
                    columns = [layout.index(UnitRef(layer, u, s)) for u in range(12)]
                    torch.testing.assert_close(
                        activations[t, columns], values[layer - 1, 0], atol=2e-6, rtol=0
                    )
            torch.testing.assert_close(log_probs[t], torch.log_softmax(before[0, -1], -1), atol=2e-6, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "mlstm"])
def test_the_top_layer_and_final_state_match_one_full_forward_pass(cell):
    """The top layer's h is the network's output over a whole text read in chunks; the last h and
    c are its final state."""
    model = random_model(cell, hidden=16)
    ids = np.random.default_rng(2).integers(0, 11, 500)
    activations, _ = traced(model, ids, chunk_len=64)
    layout = UnitLayout.of(model.config)
    top_h = [layout.index(UnitRef(2, u, "h")) for u in range(16)]
    with torch.no_grad():
        x = model.embedding(torch.from_numpy(np.concatenate([AFTER, ids]))[None])
        out, state = model.recurrent(x, model.initial_state(1))
    torch.testing.assert_close(activations[:, top_h], out[0, len(AFTER) :], atol=1e-5, rtol=0)
    for layer in (1, 2):
        for s, values in (("h", state[0]), ("c", state[1])):
            columns = [layout.index(UnitRef(layer, u, s)) for u in range(16)]
            torch.testing.assert_close(activations[-1, columns], values[layer - 1, 0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("steps", [1, 2, 3, 17, 100, 1000])
def test_the_blocked_linear_scan_is_the_recurrence(steps):
    gen = torch.Generator().manual_seed(steps)
    f = torch.rand(steps, 5, generator=gen)
    f[steps // 2 :, 0] = 1e-30  # products that underflow to 0 must stay exact, not NaN
    u = torch.randn(steps, 5, generator=gen)
    c0 = torch.randn(5, generator=gen)
    expected, c = [], c0
    for t in range(steps):
        c = f[t] * c + u[t]
        expected.append(c)
    torch.testing.assert_close(linear_scan(f, u, c0), torch.stack(expected), atol=1e-5, rtol=1e-5)


def test_surprise_is_the_score_of_the_text_and_the_guesses_are_the_models(overfit_dir):
    """Every character predicted, the first after the start of a line: the surprise adds up to
    what `charrnn score` says of the text, and the guesses at t are the model's own prediction
    for the character at t (the character that came is where its surprise says)."""
    loaded = load_model(overfit_dir / "last.pt")
    text = "the red deer waits; the red dear runs.\nthe deer"
    ids = loaded.vocab.encode(text)
    readings = read_model(loaded, ShownText(text, ids, "t", False, 0, ""), CPU, chunk_len=5)
    [scored] = score_candidates(loaded.network, loaded.vocab, [text], "", CPU)
    assert readings.loss.total_nats == pytest.approx(scored.nats, rel=1e-4)
    assert readings.loss.num_predicted == len(text)
    with torch.no_grad():
        line = torch.from_numpy(loaded.vocab.encode("\n" + text[:-1]).astype(np.int64))
        probs = torch.softmax(loaded.network(line[None])[0][0], -1)  # (T, V): row t predicts text[t]
    top = probs.topk(5, dim=-1)
    assert np.array_equal(readings.surprise.guess_ids, top.indices.numpy())
    np.testing.assert_allclose(readings.surprise.guess_probs, top.values.numpy(), atol=1e-6)
    came = probs[torch.arange(len(ids)), torch.from_numpy(ids.astype(np.int64))].double().numpy()
    np.testing.assert_allclose(readings.surprise.bits, -np.log2(came), rtol=1e-5, atol=1e-6)


def test_features_on_hand_made_text():
    assert in_quotes('a "bc" d “e” f').tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0]
    assert bracket_depth("f(a[b]) ) (").tolist() == [0, 1, 1, 2, 2, 1, 0, 0, 0, 0, 1]
    assert line_position("ab\ncd\n\ne").tolist() == [1, 2, 0, 1, 2, 0, 0, 1]
    assert word_start("the cat's 2nd-go").tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0]
    assert after_punctuation("a, b. c!").tolist() == [0, 1, 0, 0, 1, 0, 0, 1]
    play = "speech ends:\n\nROMEO:\nI go.\nNot this:\n\nFirst Citizen:\nSo."
    marked = "".join(ch for ch, on in zip(play, speaker_line(play), strict=True) if on)
    assert marked == "ROMEO:First Citizen:"  # not the verse line ending in ':', nor the newlines


def test_correlations_fed_in_chunks_are_pearsons_r():
    rng = np.random.default_rng(0)
    features = np.stack([rng.normal(size=300), (rng.random(300) > 0.7).astype(float), np.zeros(300)], axis=1)
    columns = np.stack(
        [
            features[:, 0] * 2 + rng.normal(size=300),
            -features[:, 1] + 0.1 * rng.normal(size=300),
            np.full(300, 3.0),
        ],
        axis=1,
    )
    correlations = Correlations(features)
    for start in range(0, 300, 64):
        correlations.add(start, torch.from_numpy(columns[start : start + 64]).float())
    r = correlations.r()
    for k in range(2):
        for n in range(2):
            assert r[k, n] == pytest.approx(np.corrcoef(features[:, k], columns[:, n])[0, 1], abs=1e-6)
    assert (r[2] == 0).all() and (r[:, 2] == 0).all()  # a constant feature or unit: 0, not NaN


def quoted_text(seed: int, words: int) -> str:
    """Lower-case words, and quoted runs of 1-5 upper-case words: a model that predicts the case
    of the next word after a space has to remember whether it is inside quotes."""
    rng = random.Random(seed)
    out, left = [], 0
    for _ in range(words):
        if left == 0 and rng.random() < 0.25:
            left = rng.randint(1, 5)
            out.append('"')
        word = "".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 5)))
        if left:
            left -= 1
            out.append(word.upper() + ('" ' if left == 0 else " "))
        else:
            out.append(word + " ")
    return "".join(out)


def _quote_r(loaded: LoadedModel, text: str) -> float:
    ids = loaded.vocab.encode(text)
    readings = read_model(loaded, ShownText(text, ids, "quotes", False, 0, ""), CPU)
    layout = UnitLayout.of(loaded.network.config)
    found = best_units(readings.r, FEATURES, readings.features_vary, layout, top=3)
    quotes = next(f for f in found if f.feature.name == "in_quotes")
    assert quotes.varies
    return abs(quotes.units[0][1])


def test_a_small_lstm_trained_on_quoted_spans_grows_a_unit_the_probe_finds(tmp_path: Path):
    """A real test of the probe: trained for ~2 s (150 steps, 1 thread, fixed seed) on text whose
    quoted spans have random lengths, an LSTM has a unit with |r| >= 0.8 against "inside quotes"
    on new text; the same model untrained has none."""
    corpus = tmp_path / "quotes.txt"
    corpus.write_text(quoted_text(0, 3000), encoding="utf-8")
    config = tiny_config(
        corpus,
        tmp_path / "ck",
        hidden_size=32,
        num_layers=1,
        embed_size=16,
        seq_len=64,
        batch_size=16,
        max_steps=150,
        lr=1e-2,
        warmup_steps=10,
        eval_every=1000,
        log_every=100,
    )
    train(config)
    trained = load_model(tmp_path / "ck" / "last.pt")
    unseen = quoted_text(1, 600)
    assert _quote_r(trained, unseen) >= 0.8
    ck = trained.checkpoint
    torch.manual_seed(config.seed)
    untrained = CharRNN(ck.model_config)
    fresh = Checkpoint(
        model_config=ck.model_config,
        vocabulary=ck.vocabulary,
        weights=untrained.state_dict(),
        written_by="test",
    )
    assert _quote_r(LoadedModel(untrained.eval(), fresh), unseen) < 0.6


def test_units_are_named_layer_colon_unit_and_refused_out_of_range():
    layout = UnitLayout("lstm", num_layers=2, hidden_size=8)
    assert layout.parse("2:7") == UnitRef(2, 7, "c")
    assert layout.parse(" 1 : 0 ", "h") == UnitRef(1, 0, "h")
    assert [layout.ref(i) for i in (0, 8, 16, 31)] == [
        UnitRef(1, 0, "c"),
        UnitRef(1, 0, "h"),
        UnitRef(2, 0, "c"),
        UnitRef(2, 7, "h"),
    ]
    assert all(layout.index(layout.ref(i)) == i for i in range(layout.count))
    from charrnn.errors import ConfigError

    for spec, state, message in [
        ("3:0", None, "the model has 2 layer(s), numbered 1 to 2"),
        ("0:0", None, "numbered 1 to 2"),
        ("1:8", None, "each layer has 8 units, numbered 0 to 7"),
        ("1-2", None, "--unit must be LAYER:UNIT"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            layout.parse(spec, state)
    with pytest.raises(ConfigError, match="a gru unit has h"):
        UnitLayout("gru", 1, 8).parse("1:0", "c")
