"""Streamed evaluation: the exact loss of a model on a text, hidden state carried across all of it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from charrnn.model.network import READ_CHUNK, CharRNN, State, eval_mode
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
        nats = self.nats_per_char
        return math.exp(nats) if nats < 700 else math.inf  # exp overflows a float past ~709


MAX_POSITIONS = 1 << 15  # characters × segments in one forward pass of text_loss(segments=K)
SEGMENT_WARMUP = 1024  # characters a segment reads, unscored, before its own: within ~1e-4 nats of exact
IGNORE = -100  # target id that cross_entropy skips (padding of the last, shorter stream)


class MeasurementInterrupted(Exception):
    """`should_stop` said yes between two chunks: the evaluation was abandoned."""


def _never() -> bool:
    return False


class TextScorer:
    """The exact loss of one text fed in pieces of any size: state carried, every character after
    the first predicted once. Only `chunk_len` characters are a tensor at a time."""

    def __init__(
        self,
        model: CharRNN,
        device: torch.device,
        precision: str = "fp32",
        chunk_len: int = READ_CHUNK,
        should_stop: Callable[[], bool] = _never,
    ):
        self.model, self.device, self.precision, self.chunk_len = model, device, precision, chunk_len
        self.should_stop = should_stop
        self.state: State | None = None
        self.last: int | None = None  # the previous piece's last id: the next piece's first input
        self.total_nats = 0.0
        self.num_predicted = 0

    def fork(self) -> TextScorer:
        """A scorer that goes on from where this one is (its state and last character), with
        nothing scored yet: `charrnn score` reads the context once, then each candidate after it."""
        other = TextScorer(self.model, self.device, self.precision, self.chunk_len, self.should_stop)
        other.state, other.last = self.state, self.last
        return other

    @torch.no_grad()
    def feed(self, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        seq = (
            ids.astype(np.int64) if self.last is None else np.concatenate([[self.last], ids]).astype(np.int64)
        )
        self.last = int(ids[-1])
        with eval_mode(self.model):
            for start in range(0, len(seq) - 1, self.chunk_len):
                if self.should_stop():
                    raise MeasurementInterrupted
                piece = torch.from_numpy(seq[start : start + self.chunk_len + 1]).to(self.device)
                with autocast(self.device, self.precision):
                    logits, self.state = self.model(piece[None, :-1], self.state)
                nats = F.cross_entropy(logits[0].float(), piece[1:], reduction="sum")
                self.total_nats += float(nats.double())
                self.num_predicted += len(piece) - 1

    def report(self) -> LossReport:
        if self.num_predicted < 1:
            raise ValueError("need at least two characters to predict one")
        return LossReport(total_nats=self.total_nats, num_predicted=self.num_predicted)


@torch.no_grad()
def text_loss(
    model: CharRNN,
    ids: np.ndarray,
    device: torch.device,
    precision: str = "fp32",
    chunk_len: int = READ_CHUNK,
    segments: int = 1,
    should_stop: Callable[[], bool] = _never,
    warmup: int = 0,
) -> LossReport:
    """Predict every character after the first exactly once, with the hidden state carried.

    segments=1 is exact: the state carried across the whole text. segments=K (--segments K,
    --val-segments K) cuts the predictions into K contiguous segments run side by side as a batch
    (much faster on a CPU, whose batch-1 step is bound by memory bandwidth); each segment starts
    from a zero state, which costs a little accuracy at K-1 places, unless `warmup` W > 0: then
    each segment after the first first reads the W characters before it (at most a segment's
    length), unscored, and starts from the state they leave (K = 2 and W = the text: exact). Only
    one chunk of ids is a tensor at a time, so memory stays bounded. `should_stop` is asked before
    each chunk (MeasurementInterrupted): Ctrl-C need not wait.
    """
    num_predicted = len(ids) - 1
    if num_predicted < 1:
        raise ValueError("need at least two characters to predict one")
    if segments == 1:
        scorer = TextScorer(model, device, precision, chunk_len, should_stop)
        scorer.feed(ids)
        return scorer.report()
    segments = max(1, min(segments, num_predicted))
    # Bound the positions per forward pass: activations grow with K × chunk (a 64 × 4096 chunk of
    # a 256-unit LSTM would need about 1 GB); a few tens of thousands keep the products large.
    chunk_len = max(1, min(chunk_len, MAX_POSITIONS // segments))
    seg_len = -(-num_predicted // segments)  # ceil
    # Segment k predicts ids[first[k] + t] from ids[first[k] + t - 1], for t < its length.
    first = 1 + seg_len * np.arange(segments)  # (K,)
    end = np.minimum(first + seg_len, len(ids))  # (K,)
    state: State | None = None
    total = torch.zeros((), dtype=torch.float64, device=device)
    with eval_mode(model):
        if warmup > 0 and segments > 1:
            state = _warm_segments(model, ids, first - 1, min(warmup, seg_len), device, precision)
        for offset in range(0, seg_len, chunk_len):
            if should_stop():
                raise MeasurementInterrupted
            pos = first[:, None] + np.arange(offset, min(offset + chunk_len, seg_len))[None, :]  # (K, T)
            valid = pos < end[:, None]
            safe = np.where(valid, pos, 1)
            inputs = torch.from_numpy(ids[safe - 1].astype(np.int64)).to(device)  # (K, T)
            targets = torch.from_numpy(np.where(valid, ids[safe].astype(np.int64), IGNORE)).to(device)
            with autocast(device, precision):
                logits, state = model(inputs, state)  # (K, T, V)
            total += F.cross_entropy(
                logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE, reduction="sum"
            ).double()
    return LossReport(total_nats=float(total), num_predicted=num_predicted)


def _warm_segments(
    model: CharRNN, ids: np.ndarray, starts: np.ndarray, warmup: int, device: torch.device, precision: str
) -> State:
    """The state each segment starts from: the `warmup` characters before its first input (at
    `starts`) read in one batch; the first segment, with nothing before it, starts from zero."""
    positions = starts[:, None] - warmup + np.arange(warmup)[None, :]  # (K, W); row 0 is negative
    positions = np.clip(positions, 0, len(ids) - 1)  # the last segments may be empty: past the end
    inputs = torch.from_numpy(ids[positions].astype(np.int64)).to(device)
    state: State | None = None
    step = max(1, MAX_POSITIONS // len(starts))
    for offset in range(0, warmup, step):
        with autocast(device, precision):
            _, state = model(inputs[:, offset : offset + step], state)
    assert state is not None
    return tuple(torch.cat([torch.zeros_like(t[:, :1]), t[:, 1:]], dim=1) for t in state)
