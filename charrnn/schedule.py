"""The learning-rate schedule: linear warm-up, then cosine decay to a floor."""

from __future__ import annotations

import math


def learning_rate(
    step: int,
    peak_lr: float,
    warmup_steps: int,
    total_steps: int,
    min_lr_frac: float,
    time_fraction: float = 0.0,
) -> float:
    """Learning rate for optimizer step `step` (0-based) of a run planned for `total_steps`.

    `time_fraction` (elapsed / --max-minutes) lets a time budget drive the decay too: the decay
    follows whichever limit is nearer, so a run cut by the clock still ends at the floor.
    """
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    by_steps = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(1.0, max(by_steps, time_fraction))
    floor = peak_lr * min_lr_frac
    return floor + (peak_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
