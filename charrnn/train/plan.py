"""The step plan: how many optimizer steps a run takes, and how often it validates, as pure
functions of what was asked for and what was measured (train/budget.py measures and asks).

--epochs and --max-steps give a number of steps at the start (by default neither is set: the
budget alone sizes the run). --max-minutes is a time budget for the whole run: from the speed
measured so far and the measured cost of validating, `settle` gives the largest plan whose
steps and validations end within SAFETY of the budget, or the steps asked for if they fit. The
budget settles a plan early in the run and re-settles it while the schedule allows (until its
decay starts), so a run that speeds up or slows down still ends its decay at its budget.

Without --eval-every, the same measurement sets the validation cadence: about once a minute of
training, or less often where a validation pass would cost more than VALIDATION_SHARE of the
time. Validating never changes the weights, so the cadence does not affect what a run learns.

    --epochs ───┐
    --max-steps ┴─ min ─▶ the steps asked for ──┐
                                                ├─ min ─▶ the plan
    --max-minutes ─▶ the speed measured so far ─┘         + its validation cadence
                     + the cost of the validations
"""

from __future__ import annotations

import math
from dataclasses import replace

from charrnn.model.records import StepPlan

# The share of the budget that a plan fills: the rest absorbs the speed's drift after the plan's
# last re-settling, when the decay has begun and the plan can no longer change. A share of the
# whole budget, not of the time left, so that a plan re-settled at an unchanged speed is the same.
SAFETY = 0.97

# Without --eval-every: validate about every VALIDATION_SECONDS of training, and never spend more
# than VALIDATION_SHARE of the training time on it.
VALIDATION_SECONDS = 60.0
VALIDATION_SHARE = 0.05

LIMITS = ("epochs", "max_steps", "max_minutes")
# The steps asked for when neither --epochs nor --max-steps is given: the budget alone decides.
UNLIMITED = 2**52  # exact as a float, as ranks agree on it


def steps_asked_for(windows_per_epoch: int, epochs: float | None, max_steps: int | None) -> StepPlan:
    """The plan that --epochs and --max-steps give (not yet settled against a budget)."""
    epoch_steps = UNLIMITED if epochs is None else math.ceil(windows_per_epoch * epochs)
    if max_steps is not None and max_steps < epoch_steps:
        return StepPlan(total_steps=max_steps, limited_by="max_steps", settled=False)
    if epochs is None:
        return StepPlan(total_steps=UNLIMITED, limited_by="max_minutes", settled=False)
    return StepPlan(total_steps=epoch_steps, limited_by="epochs", settled=False)


def validation_interval(seconds_per_step: float, seconds_per_validation: float) -> int:
    """Steps between validations: about a minute of training, or more where a validation pass
    would otherwise take more than VALIDATION_SHARE of the time."""
    seconds = max(VALIDATION_SECONDS, seconds_per_validation / VALIDATION_SHARE)
    return max(1, round(seconds / max(seconds_per_step, 1e-9)))


def settle(
    asked: StepPlan,
    *,
    step: int,
    seconds_spent: float,
    budget_seconds: float | None,
    seconds_per_step: float,
    seconds_per_validation: float,
    eval_every: int | None,
    chars_per_step: int,
    seconds_per_last_validation: float | None = None,
    shortest: int | None = None,
) -> StepPlan:
    """Settle the plan at `step`: its validation cadence (`eval_every`, else measured), and its
    steps: those asked for if they fit the time left, else as many as fit, but never fewer than
    `shortest` (what the schedule allows; default: `step`).

    Every validation the plan implies (one each `eval_every` steps, and one at the end) is paid
    for out of the same budget: the last at `seconds_per_last_validation` (default: as the others).
    """
    eval_every = eval_every or validation_interval(seconds_per_step, seconds_per_validation)
    speed = chars_per_step / max(seconds_per_step, 1e-9)
    if budget_seconds is None:
        return replace(asked, settled=True, chars_per_sec=speed, measured_at_step=step, eval_every=eval_every)
    usable = SAFETY * budget_seconds - seconds_spent

    last = seconds_per_validation if seconds_per_last_validation is None else seconds_per_last_validation

    def seconds_to(total: int) -> float:  # from `step` to `total`, validations included
        validations = total // eval_every - step // eval_every + (total % eval_every != 0)
        validating = (validations - 1) * seconds_per_validation + last if validations else 0.0
        return (total - step) * seconds_per_step + validating

    low = min(asked.total_steps, max(step, shortest or step))
    high = asked.total_steps  # the largest total that fits lies in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if seconds_to(middle) <= usable else (low, middle - 1)
    total = low
    if total >= asked.total_steps:
        return StepPlan(asked.total_steps, asked.limited_by, True, speed, step, eval_every)
    return StepPlan(total, "max_minutes", True, speed, step, eval_every)


def describe(
    plan: StepPlan,
    windows_per_epoch: int,
    budget_minutes: float | None,
    chars_per_step: int,
    resettled: bool = False,
    sized_width: int | None = None,
) -> str:
    """One line for people: what the plan is and why, and how often the run validates;
    `sized_width`: the width sized to the budget, which the repeating command must name."""
    epochs = plan.total_steps / windows_per_epoch
    size = f"{plan.total_steps:,} steps ({epochs:.2f} epochs)"
    if resettled:
        size = f"re-settled at step {plan.measured_at_step:,}: {size}"
    speed = f"{plan.chars_per_sec:,.0f} chars/s measured" if plan.chars_per_sec else ""
    if plan.limited_by == "max_minutes" and budget_minutes is None:
        line = f"plan: {size}, as the replayed run settled it"
    elif plan.limited_by == "max_minutes":
        repeat = (
            f"{'' if sized_width is None else f'--hidden {sized_width} '}"
            f"--max-steps {plan.total_steps} --max-minutes 0 repeats this run"
            if plan.decay_from is None
            else "the decay goes on from where it is; --replay RUN_DIR repeats this run"
        )
        line = f"plan: {size} to fit the {budget_minutes:g}-minute budget at {speed}; {repeat}"
    else:
        why = {"epochs": "the --epochs asked for", "max_steps": "the --max-steps asked for"}[plan.limited_by]
        line = f"plan: {size}, {why}"
        if speed:
            line += (
                f", which fit the {budget_minutes:g}-minute budget at {speed}"
                if budget_minutes
                else f" ({speed})"
            )
    if plan.eval_every is not None:
        line += f"; validating every {plan.eval_every:,} steps"
        if plan.chars_per_sec:
            line += f" (about every {plan.eval_every * chars_per_step / plan.chars_per_sec:.0f} s)"
    return line
