"""Streamed evaluation: the exact loss of a model on a text, hidden state carried across all of it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from charrnn.model import CharRNN, State
from charrnn.runtime import autocast

LN2 = math.log(2.0)


@dataclass(frozen=True)
class LossReport:
    """Summed cross-entropy over `num_predicted` characters; derived per-character figures."""

    total_nats: float
    num_predicted: int

    @property
    def nats_per_char(self) -> float:
        return self.total_nats / self.num_predicted

    @property
    def bits_per_char(self) -> float:
        return self.nats_per_char / LN2

    @property
    def perplexity(self) -> float:
        return math.exp(self.nats_per_char)


@torch.no_grad()
def stream_loss(
    model: CharRNN,
    ids: np.ndarray,
    device: torch.device,
    precision: str = "fp32",
    chunk_len: int = 4096,
) -> LossReport:
    """Predict every character after the first exactly once, one stream, state carried across chunks.

    Only one chunk of ids lives as a tensor at a time, so memory does not grow with the text.
    """
    if len(ids) < 2:
        raise ValueError("need at least two characters to predict one")
    was_training = model.training
    model.eval()
    state: State | None = None
    total = torch.zeros((), dtype=torch.float64, device=device)
    try:
        for start in range(0, len(ids) - 1, chunk_len):
            chunk = torch.from_numpy(ids[start : start + chunk_len + 1].astype(np.int64)).to(device)
            inputs, targets = chunk[:-1].unsqueeze(0), chunk[1:]  # (1, T), (T,)
            with autocast(device, precision):
                logits, state = model(inputs, state)  # (1, T, V)
            total += F.cross_entropy(logits[0].float(), targets, reduction="sum").double()
    finally:
        model.train(was_training)
    return LossReport(total_nats=float(total), num_predicted=len(ids) - 1)
