"""Dynamic evaluation (Krause et al. 2017, "Dynamic Evaluation of Neural Sequence Models").

The model adapts to the text as it reads it. The text is cut into segments of `seg_len`
characters; each segment is first scored with the current weights (that score is what is
reported), then its mean loss is back-propagated and the weights take one step:

    θ ← θ − lr · ∇L / max(√MS, floor) + decay · (θ₀ − θ) ⊙ RMS_norm

MS is the mean squared gradient per weight, from segments of the training corpus when it is
available, else a running mean over the segments of the evaluated text so far; RMS_norm = √MS
divided by its mean over all weights (clipped so that no weight overshoots θ₀), so weights
that move much in training are also pulled back harder. The hidden state is carried (detached)
from segment to segment, as in truncated back-propagation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from charrnn.measure.config import DynamicConfig
from charrnn.measure.loss import LossReport
from charrnn.model.network import CharRNN, State, detach_state

EPS = 1e-8
FLOOR = 0.1


def _segment_grads(
    model: CharRNN, seq: torch.Tensor, state: State | None
) -> tuple[float, list[torch.Tensor], State]:
    """Score seq[1:] given seq[:-1] (summed nats), then the gradient of the mean loss."""
    model.zero_grad(set_to_none=True)
    logits, new_state = model(seq[None, :-1], state)
    nats = F.cross_entropy(logits[0].float(), seq[1:], reduction="sum")
    (nats / (len(seq) - 1)).backward()
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]
    return float(nats.detach().double()), grads, detach_state(new_state)


def gradient_ms(model: CharRNN, ids: np.ndarray, seg_len: int, device: torch.device, segments: int = 256):
    """Mean squared gradient per weight over up to `segments` consecutive segments of `ids`
    (the end of the training text), hidden state carried."""
    model = copy.deepcopy(model).eval()
    span = ids[-(segments * seg_len + 1) :].astype(np.int64)
    ms = [torch.zeros_like(p) for p in model.parameters()]
    state: State | None = None
    count = 0
    for start in range(0, len(span) - 1, seg_len):
        seq = torch.from_numpy(span[start : start + seg_len + 1]).to(device)
        if len(seq) < 2:
            break
        _, grads, state = _segment_grads(model, seq, state)
        for m, g in zip(ms, grads, strict=True):
            m.add_(g * g)
        count += 1
    return [m / max(count, 1) for m in ms]


@dataclass
class DynamicScorer:
    """Dynamic evaluation of one text fed in pieces of any size (like loss.TextScorer)."""

    model: CharRNN
    config: DynamicConfig
    device: torch.device
    ms: list[torch.Tensor] | None = None  # from the training corpus; None: running, from this text
    segment_nats: list[float] = field(default_factory=list)  # each segment's score, in order

    def __post_init__(self) -> None:
        self.model = copy.deepcopy(self.model).eval()  # the caller's model stays as trained
        self.params = list(self.model.parameters())
        self.start = [p.detach().clone() for p in self.params]
        self.running_ms = [torch.zeros_like(p) for p in self.params]
        self.state: State | None = None
        self.pending = np.empty(0, dtype=np.int64)  # ids not yet predicted, after `last`
        self.last: int | None = None
        self.total_nats = 0.0
        self.num_predicted = 0

    def feed(self, ids: np.ndarray) -> None:
        if self.last is None and len(ids):
            self.last, ids = int(ids[0]), ids[1:]
        self.pending = np.concatenate([self.pending, ids.astype(np.int64)])
        while len(self.pending) >= self.config.seg_len:
            self._segment(self.pending[: self.config.seg_len])
            self.pending = self.pending[self.config.seg_len :]

    def report(self) -> LossReport:
        if len(self.pending):
            self._segment(self.pending)
            self.pending = self.pending[:0]
        if self.num_predicted < 1:
            raise ValueError("need at least two characters to predict one")
        return LossReport(total_nats=self.total_nats, num_predicted=self.num_predicted)

    def _segment(self, targets: np.ndarray) -> None:
        assert self.last is not None
        seq = torch.from_numpy(np.concatenate([[self.last], targets])).to(self.device)
        nats, grads, self.state = _segment_grads(self.model, seq, self.state)
        self.segment_nats.append(nats)
        self.total_nats += nats
        self.num_predicted += len(targets)
        self.last = int(targets[-1])
        self._update(grads)

    @torch.no_grad()
    def _update(self, grads: list[torch.Tensor]) -> None:
        if self.ms is None:
            n = len(self.segment_nats)
            for m, g in zip(self.running_ms, grads, strict=True):
                m.mul_((n - 1) / n).add_(g * g, alpha=1 / n)
            ms = self.running_ms
        else:
            ms = self.ms
        rms = [m.sqrt() for m in ms]
        mean_rms = sum(float(r.sum()) for r in rms) / sum(r.numel() for r in rms)
        # A weight that hardly moved in the statistics (e.g. the embedding of a character they
        # never saw) must not take a huge step: its RMS is floored at a tenth of the mean.
        floor = max(FLOOR * mean_rms, EPS)
        cfg = self.config
        for p, g, r, p0 in zip(self.params, grads, rms, self.start, strict=True):
            p.sub_(cfg.lr * g / r.clamp(min=floor))
            rate = (cfg.decay * r / max(mean_rms, EPS)).clamp_(max=1.0)
            p.add_(rate * (p0 - p))
