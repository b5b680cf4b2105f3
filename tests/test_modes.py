"""Every measurement and every sample is the same whatever mode the model arrived in.

A model handed to perplexity, score, surprise, visualize, dynamic evaluation, sampling (its
prime and its steps) or beam search may be in training mode: mid-training validation, a notebook
user who just trained it, a fine-tune. With dropout 0.5 left on anywhere on those paths, every
figure and every sample would change. For every cell and every entry point: the model in train
mode gives exactly what it gives in eval mode, and is left in the mode it came in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from charrnn.api import Model
from charrnn.data.vocab import Vocabulary
from charrnn.generate.beam import beam_search
from charrnn.generate.sampling import SampleConfig, generate_ids, sample_pieces
from charrnn.inspect.visualize import ShownText, read_model
from charrnn.measure.config import DynamicConfig
from charrnn.measure.dynamic import DynamicScorer, gradient_ms
from charrnn.measure.loss import TextScorer, text_loss
from charrnn.measure.score import score_candidates
from charrnn.measure.surprise import char_surprises
from charrnn.model.checkpoint import Checkpoint, LoadedModel
from charrnn.model.config import CELLS, ModelConfig
from charrnn.model.network import CharRNN

CPU = torch.device("cpu")
TEXT = "the red deer runs; the red dear waits.\n" * 6
VOCAB = Vocabulary("".join(sorted(set(TEXT))))
IDS = VOCAB.encode(TEXT)


def _loaded(cell: str) -> LoadedModel:
    torch.manual_seed(0)
    config = ModelConfig(VOCAB.size, cell=cell, num_layers=2, hidden_size=16, embed_size=8, dropout=0.5)
    model = CharRNN(config)
    return LoadedModel(model, Checkpoint(config, VOCAB, model.state_dict(), written_by="test"))


def _sample(loaded: LoadedModel, **options: Any) -> str:
    config = SampleConfig(length=60, temperature=1.0, **options)
    pieces = sample_pieces(loaded.network, VOCAB, "the ", config, torch.Generator().manual_seed(3))
    return "".join(text for _, text in pieces)


def _dynamic(loaded: LoadedModel) -> float:
    config = DynamicConfig(lr=1e-3, decay=0.02, seg_len=20)
    ms = gradient_ms(loaded.network, IDS, 20, CPU, segments=4)
    scorer = DynamicScorer(loaded.network, config, CPU, ms=ms)
    scorer.feed(IDS)
    return scorer.report().nats_per_char


def _visualize(loaded: LoadedModel) -> tuple[Any, ...]:
    readings = read_model(loaded, ShownText(TEXT, IDS, "text", False, 0, ""), CPU, chunk_len=50)
    return readings.activations.tobytes(), readings.scales.tobytes(), readings.surprise.bits.tobytes()


def _scorer(loaded: LoadedModel) -> float:
    scorer = TextScorer(loaded.network, CPU, chunk_len=37)
    scorer.feed(IDS)
    return scorer.report().nats_per_char


def _api(loaded: LoadedModel) -> tuple[Any, ...]:
    """charrnn.Model (what the commands and charrnn serve call), its network then put in train mode."""
    was_training = loaded.network.training
    model = Model(loaded, path=Path("model.pt"), device=CPU)  # which sets eval mode, for good
    loaded.network.train(was_training)  # as a caller that trains the network further would
    scored = model.score(["the red deer", "the red dear"])
    return (
        model.sample(length=40, prime="the ", seed=1),
        model.perplexity(TEXT).nats_per_char,
        [(s.text, s.bits) for s in scored],
        [c.bits for c in model.surprise(TEXT[:30])],
    )


ENTRY_POINTS: dict[str, Callable[[LoadedModel], Any]] = {
    "perplexity (exact)": lambda m: text_loss(m.network, IDS, CPU).nats_per_char,
    "perplexity (segments)": lambda m: text_loss(m.network, IDS, CPU, segments=3, warmup=5).nats_per_char,
    "perplexity (pieces)": _scorer,
    "dynamic evaluation": _dynamic,
    "score": lambda m: [
        (s.text, s.bits)
        for s in score_candidates(m.network, VOCAB, ["the red deer", "the red dear"], "", CPU)
    ],
    "surprise": lambda m: [
        (c.bits, c.guesses) for c in char_surprises(m.network, VOCAB, TEXT[:40], CPU, context="the ")
    ],
    "visualize": _visualize,
    "sample": _sample,
    "sample, 3 at once": lambda m: _sample(m, num_samples=3),
    "sample, top-k and top-p": lambda m: _sample(m, top_k=5, top_p=0.9),
    "generate ids": lambda m: [
        ids.tolist()
        for ids in generate_ids(
            m.network,
            VOCAB.encode("the "),
            SampleConfig(length=30, temperature=0.5),
            torch.Generator().manual_seed(1),
        )
    ],
    "beam search": lambda m: beam_search(m.network, VOCAB, VOCAB.encode("the "), 30, 4).ids.tolist(),
    "charrnn.Model": _api,
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("cell", CELLS)
def test_a_model_in_train_mode_measures_and_samples_as_in_eval_mode(cell: str, entry: str):
    run = ENTRY_POINTS[entry]
    loaded = _loaded(cell)
    loaded.network.eval()
    expected = run(loaded)
    assert not loaded.network.training
    loaded.network.train()
    got = run(loaded)
    assert loaded.network.training, "the model was not left in the mode it came in"
    assert _same(got, expected)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b
