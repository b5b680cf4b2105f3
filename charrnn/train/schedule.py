"""The learning-rate schedule: linear warm-up, the peak, then cosine decay to a floor at the plan's
last step, over the plan's last `decay_frac` of steps (1: from the end of warm-up).

A function of the step and the plan's length alone (plan.py), never of the clock. Before the
decay starts, the rate does not depend on the plan's length at all, so a plan re-settled until
then gives every step the rate a run planned for the final length from the start would give it:
`--max-steps N --max-minutes 0` repeats a budget-sized run of N steps bit for bit.

    rate │   ┌──────────────┐
         │  /                ╲_
         │ /                   ╲__
         │/                       ╲___ floor
         └──────────────────────────────▶ step
          warm-up   peak     decay (the last decay_frac of the plan)
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    peak_lr: float
    warmup_steps: int
    min_lr_frac: float
    decay_frac: float = 1.0

    def decay_start(self, total_steps: int) -> int:
        """Where the decay starts: no step before it (nor it, at the peak) depends on `total_steps`."""
        return max(self.warmup_steps, total_steps - round(self.decay_frac * total_steps))

    def rate(self, step: int, total_steps: int) -> float:
        """Learning rate for optimizer step `step` (0-based) of a run planned for `total_steps`."""
        if step < self.warmup_steps:
            return self.peak_lr * (step + 1) / self.warmup_steps
        start = self.decay_start(total_steps)
        progress = min(1.0, max(0, step - start) / max(1, total_steps - 1 - start))
        floor = self.peak_lr * self.min_lr_frac
        return floor + (self.peak_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def shortest_plan_from(self, step: int) -> int | None:
        """The fewest steps a plan settled before step `step` may have, or None if none may: the
        steps taken so far (0 to step - 1) took rates that no plan of at least that many steps
        would change, so the decay may start at step - 1 at the earliest."""
        earliest = step - 1
        if earliest <= self.warmup_steps:
            return max(step, 0)
        if self.decay_frac >= 1.0:
            return None  # the decay starts where warm-up ends, whatever the plan
        low, high = (
            step,
            math.ceil((earliest + 1) / (1.0 - self.decay_frac)) + 1,
        )  # decay_start(high) >= earliest
        while low < high:
            middle = (low + high) // 2
            low, high = (middle + 1, high) if self.decay_start(middle) < earliest else (low, middle)
        return low

    def plan_may_change(self, step: int, total_steps: int) -> bool:
        """Whether the steps before `step` took rates that a plan of another length would keep."""
        return step - 1 <= self.decay_start(total_steps) and self.shortest_plan_from(step) is not None
