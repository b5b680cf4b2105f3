import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PHRASE

from charrnn.errors import ConfigError
from charrnn.generate.sampling import SampleConfig, filter_logits, generate_ids, sample_pieces, sample_text
from charrnn.generate.stepper import NumpyStepper
from charrnn.model.checkpoint import load_model
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN, read_through


@pytest.fixture
def overfit_checkpoint(overfit_dir: Path) -> Path:
    return overfit_dir / "last.pt"


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("batch", [1, 3])  # batch 1 takes the matrix-vector path
def test_stepper_equals_the_full_sequence_forward(cell, num_layers, batch):
    torch.manual_seed(0)
    model = CharRNN(
        ModelConfig(
            vocab_size=11, cell=cell, num_layers=num_layers, hidden_size=12, embed_size=5, dropout=0.5
        )
    ).eval()
    with torch.no_grad():  # non-trivial biases so that every bias path is checked
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ids = torch.randint(0, 11, (batch, 9))
    with torch.no_grad():
        full, _ = model(ids)  # (B, 9, V): logits after each input character
    prime_logits, state = model(ids[:, :4])
    assert torch.allclose(prime_logits, full[:, :4], atol=1e-5)
    stepper = NumpyStepper(model, batch_size=batch)
    stepper.load_state(state)
    for t in range(4, 9):  # each step consumes one character and predicts the next
        logits = stepper.step(ids[:, t].numpy())
        assert np.allclose(logits, full[:, t].numpy(), atol=1e-5), t


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_stepper_with_gates_saturated_shut_equals_the_forward_without_a_warning(cell):
    """Weights scaled up until gate pre-activations pass -88, where exp(-x) overflows float32:
    the gate is still 0 (1 / inf), the logits still equal the forward pass, nothing is printed."""
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(vocab_size=7, cell=cell, num_layers=2, hidden_size=8, embed_size=4)).eval()
    with torch.no_grad():
        for p in model.recurrent.parameters():
            p.mul_(400)
    ids = torch.randint(0, 7, (1, 12))
    with torch.no_grad():
        full, _ = model(ids)
        _, state = model(ids[:, :1])
    stepper = NumpyStepper(model, batch_size=1)
    stepper.load_state(state)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for t in range(1, 12):
            logits = stepper.step(ids[:, t].numpy())
            assert np.allclose(logits, full[:, t].numpy(), atol=1e-4), t
    assert np.isfinite(logits).all()


@pytest.mark.parametrize("chunk", [1, 7, 100])
def test_a_long_prime_is_read_in_chunks_with_the_same_result(overfit_checkpoint, chunk: int):
    """The prime is read a chunk at a time with the state carried (memory bounded whatever its
    length): the logits after it match one forward pass, and the sample is the same."""
    loaded = load_model(overfit_checkpoint, torch.device("cpu"))
    prime = torch.from_numpy(loaded.vocab.encode(PHRASE * 8).astype(np.int64))[None]  # (1, 312)
    with torch.no_grad():
        whole, whole_state = loaded.network(prime)
        chunked, chunked_state = read_through(loaded.network, prime, chunk_len=chunk)
    torch.testing.assert_close(chunked, whole[:, -1], atol=1e-5, rtol=1e-5)
    for a, b in zip(chunked_state, whole_state, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    config = SampleConfig(length=200, temperature=0, num_samples=2)
    samples = [
        np.stack(
            list(generate_ids(loaded.network, prime[0].numpy(), config, torch.Generator(), prime_chunk=n))
        )
        for n in (chunk, 10_000)
    ]
    assert np.array_equal(samples[0], samples[1])


def test_greedy_sampling_reproduces_the_overfitted_corpus(overfit_checkpoint):
    loaded = load_model(overfit_checkpoint, torch.device("cpu"))
    text = sample_text(loaded.network, loaded.vocab, prime="t", length=2 * len(PHRASE) - 1, temperature=0)
    assert "t" + text == PHRASE * 2


def _sample(loaded, seed, **config) -> str:
    generator = torch.Generator().manual_seed(seed)
    cfg = SampleConfig(**{"length": 200, **config})
    return "".join(piece for _, piece in sample_pieces(loaded.network, loaded.vocab, "the", cfg, generator))


def test_seed_makes_samples_reproducible(overfit_checkpoint):
    loaded = load_model(overfit_checkpoint, torch.device("cpu"))
    high = {"temperature": 2.0}
    assert _sample(loaded, 1, **high) == _sample(loaded, 1, **high)
    assert _sample(loaded, 1, **high) != _sample(loaded, 2, **high)


def test_top_k_one_and_tiny_temperature_equal_greedy(overfit_checkpoint):
    loaded = load_model(overfit_checkpoint, torch.device("cpu"))
    greedy = _sample(loaded, 0, temperature=0)
    assert _sample(loaded, 5, temperature=1.5, top_k=1) == greedy
    assert _sample(loaded, 5, temperature=1e-4) == greedy


def test_filter_logits_top_k_and_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = lambda x: torch.isfinite(x).squeeze(0).tolist()  # noqa: E731
    assert kept(filter_logits(logits, top_k=2, top_p=None)) == [True, True, False, False]
    assert kept(filter_logits(logits, top_k=None, top_p=0.5)) == [True, False, False, False]
    assert kept(filter_logits(logits, top_k=None, top_p=0.6)) == [True, True, False, False]
    assert kept(filter_logits(logits, top_k=None, top_p=0.95)) == [True, True, True, False]
    assert kept(filter_logits(logits, top_k=None, top_p=1.0)) == [True] * 4


def _three_character_model(probabilities: list[float]) -> CharRNN:
    """A model whose next-character distribution is `probabilities` whatever came before."""
    model = CharRNN(ModelConfig(vocab_size=3, cell="rnn", num_layers=1, hidden_size=2, embed_size=2)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.head.bias.copy_(torch.log(torch.tensor(probabilities)))
    return model


# Every way a character is drawn: the Gumbel-max path (no filter), and the filtered path (top-k
# or top-p that keeps every character, so the distribution is unchanged but the path is taken).
DRAW_PATHS = {"gumbel": {}, "top-k": {"top_k": 3}, "top-p": {"top_p": 1.0 - 1e-9}}


@pytest.mark.parametrize("path", DRAW_PATHS)
@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sampled_frequencies_follow_softmax_of_the_logits_over_the_temperature(path: str, temperature: float):
    probabilities = torch.tensor([0.6, 0.3, 0.1])
    model = _three_character_model(probabilities.tolist())
    generator = torch.Generator().manual_seed(0)
    cfg = SampleConfig(length=20_000, temperature=temperature, **DRAW_PATHS[path])
    ids = np.concatenate(list(generate_ids(model, np.array([0]), cfg, generator)))
    freq = np.bincount(ids, minlength=3) / len(ids)
    expected = torch.softmax(torch.log(probabilities) / temperature, dim=0).numpy()
    assert np.allclose(freq, expected, atol=0.015), (freq, expected)


def test_stop_ends_each_sample(overfit_checkpoint):
    loaded = load_model(overfit_checkpoint, torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    cfg = SampleConfig(length=500, temperature=0, num_samples=3)
    pieces = list(sample_pieces(loaded.network, loaded.vocab, "the", cfg, generator, stop="dear"))
    first = "".join(p for i, p in pieces if i == 0)
    others = [p for i, p in pieces if i > 0]
    assert first == " red deer runs; the red dear"
    assert others == [first, first]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"temperature": -0.1}, "--temperature"),
        ({"top_k": 0}, "--top-k"),
        ({"top_p": 0.0}, "--top-p"),
        ({"top_p": 1.5}, "--top-p"),
        ({"num_samples": 0}, "--num-samples"),
        ({"length": -1}, "--length"),
        ({"temperature": math.inf}, "--temperature"),
    ],
)
def test_bad_sample_config(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SampleConfig(**kwargs)
