"""`charrnn score`: which of several texts does the model find most probable?

Every candidate is conditioned on the same context (by default the start of a line, the
same place `charrnn sample` starts from), so every one of its characters is predicted and
candidates of any length are compared by their total log-probability.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from charrnn.data.text import decode_utf8, read_bytes
from charrnn.data.vocab import Vocabulary
from charrnn.errors import ConfigError, VocabularyError
from charrnn.measure.loss import LN2
from charrnn.model.network import CharRNN, eval_mode


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


def encode_named(vocab: Vocabulary, text: str, what: str, device: torch.device) -> torch.Tensor:
    """`text` as ids on `device`; unknown characters are an error that names `what` holds them."""
    try:
        return torch.from_numpy(vocab.encode(text).astype("int64")).to(device)
    except VocabularyError as e:
        raise VocabularyError(f"{what}: {e}") from None


@torch.no_grad()
def score_candidates(
    model: CharRNN, vocab: Vocabulary, candidates: list[str], context: str, device: torch.device
) -> list[Scored]:
    """Candidates from most to least probable given `context` ("" = the start of a line)."""
    if not candidates:
        raise ConfigError("give at least one text to score (arguments or --file)")
    if any(not c for c in candidates):
        raise ConfigError("a candidate text is empty")
    ctx = encode_named(vocab, context or vocab.line_start, "--context", device)[None]  # (1, C)
    encoded = [
        encode_named(vocab, t, f"candidate {i + 1} ({t[:40]!r})", device) for i, t in enumerate(candidates)
    ]
    with eval_mode(model):
        ctx_logits, state = model(ctx)
        first_logits = ctx_logits[0, -1].float()  # predicts each candidate's first character
        nats = []
        for ids in encoded:
            total = F.cross_entropy(first_logits[None], ids[:1], reduction="sum")
            if len(ids) > 1:
                logits, _ = model(ids[None, :-1], state)
                total = total + F.cross_entropy(logits[0].float(), ids[1:], reduction="sum")
            nats.append(float(total.double()))
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
