"""Beam search: the most probable continuation that K hypotheses kept side by side find.

Each step extends every live hypothesis by every character and keeps the K likeliest of them
(log-probabilities summed in float64; ties go to the lower hypothesis, then the lower id, so
the result is deterministic). The K hypotheses are the K rows of one batched NumpyStepper, whose
rows follow their parents after each step. A hypothesis that has just written the stop text is
finished: it competes as it is, since a longer one can only be less probable, and the search
ends as soon as no live hypothesis can beat the best finished one.

Plain beam search can lose the greedy continuation along the way and end less probable than
it; so greedy's continuation (a beam of 1) is a candidate too, and the more probable of the two
is returned: never less likely than greedy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from charrnn.data.vocab import Vocabulary
from charrnn.generate.stepper import make_stepper, primed
from charrnn.model.network import CharRNN, State, eval_mode


@dataclass(frozen=True)
class BeamResult:
    ids: np.ndarray  # (n,) the continuation's character ids, the prime not included
    log_prob: float  # its natural log-probability given the prime


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    x -= x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def _ends_with(ids: list[int], stop: np.ndarray | None) -> bool:
    return stop is not None and len(ids) >= len(stop) and ids[len(ids) - len(stop) :] == stop.tolist()


def _search(
    model: CharRNN,
    primed_at: tuple[np.ndarray, State],
    length: int,
    beam: int,
    stop: np.ndarray | None,
) -> BeamResult:
    last_logits, state = primed_at
    stepper = make_stepper(model, beam, state)
    logits = np.repeat(last_logits, beam, axis=0)  # (K, V)
    scores = np.full(beam, -np.inf)
    scores[0] = 0.0  # one hypothesis to start from: the others are copies, out of the running
    texts: list[list[int]] = [[] for _ in range(beam)]
    best = BeamResult(np.zeros(0, dtype=np.int64), -np.inf)  # the best finished one
    vocab_size = logits.shape[1]
    for _ in range(length):
        candidates = (scores[:, None] + _log_softmax(logits)).ravel()  # (K * V,)
        order = np.argsort(-candidates, kind="stable")[:beam]
        parents, chars = np.divmod(order, vocab_size)
        scores = candidates[order]
        texts = [[*texts[p], int(c)] for p, c in zip(parents.tolist(), chars.tolist(), strict=True)]
        for k, text in enumerate(texts):
            if np.isfinite(scores[k]) and _ends_with(text, stop):
                if scores[k] > best.log_prob:
                    best = BeamResult(np.array(text, dtype=np.int64), float(scores[k]))
                scores[k] = -np.inf  # finished: it extends no further
        if not np.isfinite(scores).any() or scores.max() <= best.log_prob:
            return best  # no live hypothesis can beat the best finished one
        stepper.reorder(parents)
        logits = stepper.step(chars.astype(np.int64))
    k = int(np.argmax(scores))
    if scores[k] > best.log_prob:
        best = BeamResult(np.array(texts[k], dtype=np.int64), float(scores[k]))
    return best


def beam_search(
    model: CharRNN,
    vocab: Vocabulary,
    prime_ids: np.ndarray,
    length: int,
    beam: int,
    stop: str | None = None,
) -> BeamResult:
    """The most probable continuation of at most `length` characters after `prime_ids` (at
    least one id) that `beam` hypotheses find, ending after the first `stop` if one is found;
    never less probable than greedy's. The model's own probabilities (temperature 1)."""
    if len(prime_ids) == 0:
        raise ValueError("beam search needs at least one prime character")
    stop_ids = vocab.encode(stop) if stop and not vocab.unknown_chars(stop) else None
    with eval_mode(model):
        primed_at = primed(model, prime_ids)  # read once for both searches
        found = _search(model, primed_at, length, beam, stop_ids)
        greedy = _search(model, primed_at, length, 1, stop_ids) if beam > 1 else found
    return found if found.log_prob >= greedy.log_prob else greedy
