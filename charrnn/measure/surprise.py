"""Surprise, character by character: how unexpected each character of a text is to the model,
in bits (−log₂ of the probability it gave the character, given the text before it), and the
characters it expected in its place.

This is the one computation behind colouring a text by surprise, on the page of `charrnn serve`
(`char_surprises`) and on the page of `charrnn visualize` (`read_surprise`, a chunk at a time).
One convention for both: a text follows a context, by default the start of a line (the place
`charrnn sample` and `charrnn score` start from), so its first character is predicted too; and
the surprise and the guesses at a character describe the same prediction, the model's for that
character. The bits of a text add up to what `charrnn score` says of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from charrnn.data.reading import unknown_characters_error
from charrnn.data.vocab import Vocabulary
from charrnn.measure.loss import LN2
from charrnn.measure.score import encode_named
from charrnn.model.network import READ_CHUNK, CharRNN, State, eval_mode
from charrnn.options import FLAGS, UNKNOWN_POLICIES, Names, check_choice

GUESSES = 5  # the likeliest characters given at each place


@dataclass(frozen=True)
class SurpriseReading:
    """What the model made of T characters, each from the text before it."""

    bits: np.ndarray  # (T,) float64: −log₂ p(the character that came)
    guess_probs: np.ndarray  # (T, k) float32: the k likeliest characters' probabilities, largest first
    guess_ids: np.ndarray  # (T, k) int64: those characters' ids

    @classmethod
    def join(cls, parts: list[SurpriseReading]) -> SurpriseReading:
        """The readings of consecutive pieces of a text, as one."""
        if not parts:
            return cls(np.empty(0), np.empty((0, 0), dtype=np.float32), np.empty((0, 0), dtype=np.int64))
        return cls(
            np.concatenate([p.bits for p in parts]),
            np.concatenate([p.guess_probs for p in parts]),
            np.concatenate([p.guess_ids for p in parts]),
        )


def read_surprise(log_probs: torch.Tensor, targets: torch.Tensor, guesses: int = GUESSES) -> SurpriseReading:
    """log_probs (T, V), row t the model's log-probabilities for the character at t, and the
    characters that came there, targets (T,): each one's surprise and the model's `guesses`
    likeliest characters in its place."""
    bits = -log_probs.gather(1, targets[:, None])[:, 0].double() / LN2  # (T,)
    top = log_probs.topk(min(guesses, log_probs.shape[1]), dim=1)  # (T, k)
    return SurpriseReading(
        bits.cpu().numpy(), top.values.exp().float().cpu().numpy(), top.indices.cpu().numpy()
    )


@dataclass(frozen=True)
class CharSurprise:
    """One character of a text, and what the model made of it."""

    char: str
    bits: float | None  # −log₂ p(char | context, the text before it); None: outside the vocabulary
    guesses: tuple[tuple[str, float], ...]  # the likeliest characters in its place, with their probabilities

    @property
    def probability(self) -> float | None:
        return None if self.bits is None else 2.0**-self.bits

    def to_dict(self) -> dict[str, object]:
        return {"char": self.char, "bits": self.bits, "guesses": [list(pair) for pair in self.guesses]}


def bits_per_char(surprises: list[CharSurprise]) -> float | None:
    """The mean surprise of the characters the model knows (None if it knows none)."""
    known = [s.bits for s in surprises if s.bits is not None]
    return sum(known) / len(known) if known else None


@torch.no_grad()
def char_surprises(
    model: CharRNN,
    vocab: Vocabulary,
    text: str,
    device: torch.device,
    *,
    context: str = "",
    unknown: str = "error",
    guesses: int = GUESSES,
    chunk_len: int = READ_CHUNK,
    names: Names = FLAGS,
) -> list[CharSurprise]:
    """Each character of `text` after `context` ("" = the start of a line): its surprise in bits
    and the `guesses` characters the model found likeliest in its place, most likely first.

    Characters outside the vocabulary are an error (unknown="error"), or (unknown="skip") kept
    with no surprise while the model reads on without them, as `charrnn perplexity` does. The
    state is carried across chunks of `chunk_len` characters, so memory stays bounded. Errors
    name `context` and `unknown` as `names` do.
    """
    check_choice(names("unknown"), unknown, UNKNOWN_POLICIES)
    if guesses < 1:
        raise ValueError(f"guesses must be >= 1, not {guesses}")
    ids, unknown_at = vocab.encode_known(text)
    if len(unknown_at) and unknown == "error":
        raise unknown_characters_error("text", text, unknown_at, advice=names.to_drop("unknown", "skip"))
    ctx = encode_named(vocab, context or vocab.line_start, names("context"))
    seq = torch.from_numpy(np.concatenate([ctx, ids]).astype(np.int64)).to(device)  # (C + N,)
    first = len(ctx) - 1  # the output at this input position predicts the text's first character
    readings = []
    state: State | None = None
    with eval_mode(model):
        for start in range(0, len(seq) - 1, chunk_len):
            inputs = seq[start : start + chunk_len]
            logits, state = model(inputs[None], state)  # (1, T, V)
            skip = max(0, first - start)  # outputs that predict the context itself
            log_p = F.log_softmax(logits[0, skip:].float(), dim=-1)  # (T', V)
            readings.append(read_surprise(log_p, seq[start + 1 + skip : start + 1 + len(inputs)], guesses))
    reading = SurpriseReading.join(readings)
    known = zip(reading.bits.tolist(), reading.guess_probs.tolist(), reading.guess_ids.tolist(), strict=True)
    skipped = set(unknown_at.tolist())
    result = []
    for i, char in enumerate(text):
        if i in skipped:
            result.append(CharSurprise(char, None, ()))
            continue
        b, p, e = next(known)
        result.append(CharSurprise(char, b, tuple((vocab.chars[j], q) for j, q in zip(e, p, strict=True))))
    return result
