"""Noticing a diverged run: NaN, infinite or exploded loss, or a non-finite gradient norm, on any rank.

Each step's check stays on the device (no host sync per step); the first bad step is read back
only when training reports anyway (log and validation intervals), and nothing is saved after it.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from charrnn.errors import TrainingDiverged
from charrnn.train.distributed import Collective

# A loss this many times a uniform guess's (ln V nats/char) is a broken run, never a bad patch:
# a model that knows nothing scores ln V. Like char-rnn's "loss exploding" stop.
EXPLODED_FACTOR = 4.0


def exploded_limit(vocab_size: int) -> float:
    return EXPLODED_FACTOR * max(math.log(vocab_size), 1.0)


class DivergenceGuard:
    def __init__(self, vocab_size: int, device: torch.device) -> None:
        self.limit = exploded_limit(vocab_size)
        self.first_bad = torch.full((3,), -1.0, dtype=torch.float64, device=device)  # step, loss, norm

    def observe(self, step: int, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
        """Record `step` if it is the first bad one. A non-finite gradient norm poisons the weights
        even when the loss itself was finite."""
        loss, grad_norm = loss.detach().double(), grad_norm.detach().double()
        bad = ~torch.isfinite(loss) | ~torch.isfinite(grad_norm) | (loss > self.limit)
        take = bad & (self.first_bad[0] < 0)
        here = torch.stack([torch.full_like(loss, step), loss, grad_norm])
        self.first_bad = torch.where(take, here, self.first_bad)

    def problem(self) -> tuple[int, str] | None:
        """The first bad step and what was wrong there, or None (this reads the device)."""
        step, loss, norm = self.first_bad.tolist()
        if step < 0:
            return None
        return int(step), self.describe(loss, norm)

    def describe(self, loss: float, norm: float | None = None) -> str:
        gradient = "" if norm is None else f" with a gradient norm of {norm:.4g}"
        return (
            f"the loss was {loss:.4g} nats/char{gradient} (NaN, infinite, or above {self.limit:.1f}: "
            f"{EXPLODED_FACTOR:g}x a uniform guess)"
        )

    def is_bad(self, loss: float) -> bool:
        return not math.isfinite(loss) or loss > self.limit


class DivergenceCheck:
    """Stops every rank, with one clear error, at the first bad step any rank saw."""

    def __init__(self, guard: DivergenceGuard, collective: Collective, last_checkpoint: Path) -> None:
        self.guard, self.collective, self.last_checkpoint = guard, collective, last_checkpoint

    def check(self) -> None:
        """Raise TrainingDiverged if any rank's guard saw a bad step (this reads the device)."""
        problem = self.guard.problem()
        (negated_step,) = self.collective.max([-problem[0] if problem else -math.inf])
        if math.isfinite(negated_step):
            step = int(-negated_step)
            here = problem is not None and problem[0] == step
            self.diverged(step, problem[1] if here and problem else "on another process")

    def check_validation(self, step: int, val_loss: float) -> None:
        if self.guard.is_bad(val_loss):
            self.diverged(step, "on validation " + self.guard.describe(val_loss))

    def diverged(self, step: int, what: str) -> None:
        kept = (
            f"{self.last_checkpoint.parent} keeps the last good checkpoint"
            if self.last_checkpoint.exists()
            else "no checkpoint had been saved yet"
        )
        raise TrainingDiverged(f"training diverged at step {step}: {what}; {kept} (try a lower --lr)")
