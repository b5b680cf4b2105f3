"""The learning-rate schedule: linear warm-up, then cosine decay to a floor at the plan's last step.

A function of the step and the plan alone (plan.py), never of the clock: the same run twice,
or a run interrupted and resumed, takes the same learning rate at every step.
"""

from __future__ import annotations

import math


def learning_rate(
    step: int, peak_lr: float, warmup_steps: int, total_steps: int, min_lr_frac: float
) -> float:
    """Learning rate for optimizer step `step` (0-based) of a run planned for `total_steps`."""
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - 1 - warmup_steps))
    floor = peak_lr * min_lr_frac
    return floor + (peak_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
