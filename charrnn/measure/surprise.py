"""Surprise, character by character: how unexpected each character of a text is to the model,
in bits (−log₂ of the probability it gave the character, given the text before it), and the
characters it expected in its place.

This is the one computation behind colouring a text by surprise (the page of `charrnn serve`).
Like `charrnn score`, the text follows a context (by default the start of a line), so its first
character is predicted too.
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
from charrnn.model.network import CharRNN, State, eval_mode
from charrnn.options import UNKNOWN_POLICIES, check_choice

TOP = 5  # likeliest characters reported at each place


@dataclass(frozen=True)
class CharSurprise:
    """One character of a text, and what the model made of it."""

    char: str
    bits: float | None  # −log₂ p(char | context, the text before it); None: outside the vocabulary
    top: tuple[tuple[str, float], ...]  # the likeliest characters in its place, with their probabilities

    @property
    def probability(self) -> float | None:
        return None if self.bits is None else 2.0**-self.bits

    def to_dict(self) -> dict[str, object]:
        return {"char": self.char, "bits": self.bits, "top": [list(pair) for pair in self.top]}


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
    top_n: int = TOP,
    chunk_len: int = 4096,
) -> list[CharSurprise]:
    """Each character of `text` after `context` ("" = the start of a line): its surprise in bits
    and the `top_n` characters the model found likeliest in its place, most likely first.

    Characters outside the vocabulary are an error (unknown="error"), or (unknown="skip") kept
    with no surprise while the model reads on without them, as `charrnn perplexity` does. The
    state is carried across chunks of `chunk_len` characters, so memory stays bounded.
    """
    check_choice("--unknown", unknown, UNKNOWN_POLICIES)
    if top_n < 1:
        raise ValueError(f"top_n must be >= 1, not {top_n}")
    ids, unknown_at = vocab.encode_known(text)
    if len(unknown_at) and unknown == "error":
        raise unknown_characters_error("text", text, unknown_at)
    ctx = encode_named(vocab, context or vocab.line_start, "--context", device)
    seq = torch.cat([ctx, torch.from_numpy(ids.astype(np.int64)).to(device)])  # (C + N,)
    first = len(ctx) - 1  # the output at this input position predicts the text's first character
    k = min(top_n, vocab.size)
    bits, probs, expected = [], [], []
    state: State | None = None
    with eval_mode(model):
        for start in range(0, len(seq) - 1, chunk_len):
            inputs = seq[start : start + chunk_len]
            logits, state = model(inputs[None], state)  # (1, T, V)
            skip = max(0, first - start)  # outputs that predict the context itself
            log_p = F.log_softmax(logits[0, skip:].float(), dim=-1)  # (T', V)
            targets = seq[start + 1 + skip : start + 1 + len(inputs)]  # (T',)
            bits.append(-log_p.gather(1, targets[:, None])[:, 0] / LN2)
            top_log_p, top_ids = log_p.topk(k, dim=-1)  # (T', k)
            probs.append(top_log_p.exp())
            expected.append(top_ids)
    known = iter(
        zip(
            torch.cat(bits).tolist() if bits else [],
            torch.cat(probs).tolist() if probs else [],
            torch.cat(expected).tolist() if expected else [],
            strict=True,
        )
    )
    skipped = set(unknown_at.tolist())
    result = []
    for i, char in enumerate(text):
        if i in skipped:
            result.append(CharSurprise(char, None, ()))
            continue
        b, p, e = next(known)
        result.append(CharSurprise(char, b, tuple((vocab.chars[j], q) for j, q in zip(e, p, strict=True))))
    return result
