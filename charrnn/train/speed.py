"""What the budget measures as a run goes (budget.py): training seconds per step over a stretch
of steps, and what a validation costs."""

from __future__ import annotations

from dataclasses import dataclass


class Meter:
    """Training seconds per step over a stretch of steps, the time spent validating left out."""

    def __init__(self, step: int, seconds: float) -> None:
        self.last_step, self.last_seconds = step, seconds
        self.steps, self.seconds = 0, 0.0

    def lap(self, step: int, seconds: float) -> None:
        """Count the steps trained since the last lap (or skip)."""
        self.steps += step - self.last_step
        self.seconds += seconds - self.last_seconds
        self.last_step, self.last_seconds = step, seconds

    def skip(self, step: int, seconds: float) -> None:
        """Leave out the time since the last lap: it was not spent training."""
        self.last_step, self.last_seconds = step, seconds

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(self.steps, 1)


@dataclass(frozen=True)
class Prices:
    """What validating costs: the latest validation before the last (measured), and the last."""

    periodic: float
    last_per_periodic: float  # the last validation's cost over a periodic one's, probed once

    @property
    def last(self) -> float:
        return self.periodic * self.last_per_periodic
