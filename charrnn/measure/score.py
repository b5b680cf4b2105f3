"""`charrnn score`: which of several texts does the model find most probable?

Every candidate is conditioned on the same context (by default the start of a line, the
same place `charrnn sample` starts from), so every one of its characters is predicted and
candidates of any length are compared by their total log-probability.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from charrnn.data.text import decode_utf8, read_bytes
from charrnn.data.vocab import Vocabulary
from charrnn.errors import ConfigError, VocabularyError
from charrnn.measure.loss import LN2, TextScorer
from charrnn.model.network import READ_CHUNK, CharRNN
from charrnn.options import FLAGS, Names


@dataclass(frozen=True)
class Scored:
    text: str
    nats: float  # -log p(text | context), natural log
    rank: int  # 1 = most probable

    @property
    def bits(self) -> float:
        return self.nats / LN2

    @property
    def bits_per_char(self) -> float:
        return self.bits / len(self.text)

    def to_dict(self) -> dict[str, object]:
        return {
            "rank": self.rank,
            "text": self.text,
            "log_prob_nats": -self.nats,
            "log_prob_bits": -self.bits,
            "bits_per_char": self.bits_per_char,
        }


def encode_named(vocab: Vocabulary, text: str, what: str) -> np.ndarray:
    """`text` as ids; unknown characters are an error that names `what` holds them."""
    try:
        return vocab.encode(text)
    except VocabularyError as e:
        raise VocabularyError(f"{what}: {e}") from None


def score_candidates(
    model: CharRNN,
    vocab: Vocabulary,
    candidates: list[str],
    context: str,
    device: torch.device,
    *,
    chunk_len: int = READ_CHUNK,
    names: Names = FLAGS,
) -> list[Scored]:
    """Candidates from most to least probable given `context` ("" = the start of a line). The
    context is read once, then each candidate after it, `chunk_len` characters at a time with the
    state carried (memory bounded whatever their lengths). Errors name the context as `names` do."""
    if not candidates:
        raise ConfigError("give at least one text to score (arguments or --file)")
    if any(not c for c in candidates):
        raise ConfigError("a candidate text is empty")
    ctx = encode_named(vocab, context or vocab.line_start, names("context"))
    encoded = [encode_named(vocab, t, f"candidate {i + 1} ({t[:40]!r})") for i, t in enumerate(candidates)]
    after_context = TextScorer(model, device, chunk_len=chunk_len)
    after_context.feed(ctx)  # its last character is the input that predicts each candidate's first
    nats = []
    for ids in encoded:
        scorer = after_context.fork()
        scorer.feed(ids)
        nats.append(scorer.total_nats)
    order = sorted(range(len(candidates)), key=lambda i: nats[i])
    return [Scored(text=candidates[i], nats=nats[i], rank=r + 1) for r, i in enumerate(order)]


@dataclass(frozen=True)
class ScoreReport:
    checkpoint: Path
    context: str
    scored: list[Scored]

    def to_dict(self) -> dict[str, object]:
        """The --json document."""
        return {
            "checkpoint": str(self.checkpoint),
            "context": self.context,
            "candidates": [s.to_dict() for s in self.scored],
        }


def read_candidates(texts: list[str], file: Path | None = None) -> list[str]:
    """`texts`, then the lines of `file` (empty lines skipped): what `charrnn score` ranks."""
    candidates = list(texts)
    if file is not None:
        lines = decode_utf8(read_bytes(file, what="candidates file"), str(file)).splitlines()
        candidates += [line for line in lines if line]
    return candidates
