"""The learning-rate schedule: linear warm-up, the peak, then cosine decay to a floor at the plan's
last step, over the plan's last `decay_frac` of steps (1: from the end of warm-up).

A function of the step and the plan alone (plan.py), never of the clock. Before the decay
starts, the rate does not depend on the plan's length at all, so a plan re-settled until then
gives every step the rate a run planned for the final length from the start would give it:
`--max-steps N --max-minutes 0` repeats such a run bit for bit.

A plan re-settled once the decay has begun (the machine sped up or slowed down late in the run)
continues the decay from where it is: the plan records the last step taken and how far along the
cosine it was (`decay_from`, `decay_progress`), and the rest of the cosine is stretched or squeezed over the
plan's remaining steps, so the rate reaches the floor at the plan's new last step without a
jump. Such a run is repeated from its recorded plans (`charrnn train --replay`).

    rate │   ┌──────────────┐
         │  /                ╲_                 re-settled here: the rest of the curve
         │ /                   ╲__          ◀── stretched over the new remaining steps
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

    def progress(
        self, step: int, total_steps: int, decay_from: int | None = None, decay_progress: float = 0.0
    ) -> float:
        """How far along the cosine step `step` of the plan is (0 = the peak, 1 = the floor at its
        last step). A plan re-settled inside the decay goes on after step `decay_from` (the last
        one taken under the plan before), from `decay_progress` (where that step was)."""
        if decay_from is None:
            start, done = self.decay_start(total_steps), 0.0
        else:
            start, done = decay_from, decay_progress
        return done + (1.0 - done) * min(1.0, max(0, step - start) / max(1, total_steps - 1 - start))

    def rate(
        self, step: int, total_steps: int, decay_from: int | None = None, decay_progress: float = 0.0
    ) -> float:
        """Learning rate for optimizer step `step` (0-based) of a run planned for `total_steps`
        (a plan re-settled inside the decay: continued from `decay_from`, as `progress` says)."""
        if step < self.warmup_steps:
            return self.peak_lr * (step + 1) / self.warmup_steps
        progress = self.progress(step, total_steps, decay_from, decay_progress)
        floor = self.peak_lr * self.min_lr_frac
        return floor + (self.peak_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def continued(
        self, step: int, total_steps: int, decay_from: int | None, decay_progress: float, new_total: int
    ) -> tuple[int, float] | None:
        """What a plan of `new_total` steps adopted before step `step` needs so that the steps
        already taken keep their rates: None where they keep them without it (the decay has not
        begun, and the new plan's starts no earlier), else (decay_from, decay_progress)."""
        last = step - 1  # the last step taken
        if last < self.warmup_steps:
            return None
        done = self.progress(last, total_steps, decay_from, decay_progress)
        if done == 0.0 and last <= self.decay_start(new_total):
            return None
        return last, done
