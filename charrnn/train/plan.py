"""The step plan: how many optimizer steps a run takes, fixed once, so that the learning-rate
schedule is a function of the step alone and never of the wall clock; and how often it validates.

--epochs and --max-steps give a number of steps at the start (by default neither is set: the
budget alone sizes the run). --max-minutes is a time budget for the whole run (every invocation
of it together): it becomes a number of steps once, early in the run, from the training speed
measured over its first steps and the measured cost of a validation pass. If the steps asked
for fit the budget, the plan stays as asked and the run is reproducible bit for bit; if they do
not, the plan is as many steps as fit, so the schedule reaches its floor when the time is up.
Such a clock-sized plan is printed and stored (in the checkpoint and metrics.jsonl):
`--max-steps N --max-minutes 0` repeats it exactly.

Without --eval-every, the same measurement sets the validation cadence: about once a minute of
training, or less often where a validation pass would cost more than VALIDATION_SHARE of the
time. Validating never changes the weights, so the cadence does not affect what a run learns.

    --epochs ───┐
    --max-steps ┴─ min ─▶ the steps asked for ──┐
                                                ├─ min ─▶ the plan (settled once)
    --max-minutes ─▶ speed of the first steps ──┘         + its validation cadence
                     + cost of the validations
"""

from __future__ import annotations

import math
from dataclasses import replace

from charrnn.model.checkpoint import StepPlan

# The share of the remaining budget a plan fills. Speed drifts during a run: a default run priced
# at 45k chars/s planned 7,560 steps into 97% of its 570 s, then trained at 41k for minutes on
# end and was at step 6,420 after 498 s, too slow to reach the plan's end in time.
SAFETY = 0.95
# Steps of each invocation not measured (first-call allocations), then at least MEASURE_STEPS
# steps and MEASURE_SECONDS seconds of training are measured before the budget is turned into
# steps, or fewer if warm-up ends first.
SKIP_STEPS = 2
MEASURE_STEPS = 10
MEASURE_SECONDS = 10.0

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
) -> StepPlan:
    """Settle the plan at `step`: its validation cadence (`eval_every`, else measured), and its
    steps: those asked for if they fit the time left, else as many as fit.

    Every validation the plan implies (one each `eval_every` steps, and one at the end) is paid
    for out of the same budget: the last at `seconds_per_last_validation` (default: as the others).
    """
    eval_every = eval_every or validation_interval(seconds_per_step, seconds_per_validation)
    speed = chars_per_step / max(seconds_per_step, 1e-9)
    if budget_seconds is None:
        return replace(asked, settled=True, chars_per_sec=speed, measured_at_step=step, eval_every=eval_every)
    usable = SAFETY * (budget_seconds - seconds_spent)

    last = seconds_per_validation if seconds_per_last_validation is None else seconds_per_last_validation

    def seconds_to(total: int) -> float:  # from `step` to `total`, validations included
        validations = total // eval_every - step // eval_every + (total % eval_every != 0)
        validating = (validations - 1) * seconds_per_validation + last if validations else 0.0
        return (total - step) * seconds_per_step + validating

    low, high = step, asked.total_steps  # the largest total that fits lies in [low, high]
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if seconds_to(middle) <= usable else (low, middle - 1)
    total = low
    if total >= asked.total_steps:
        return StepPlan(asked.total_steps, asked.limited_by, True, speed, step, eval_every)
    return StepPlan(total, "max_minutes", True, speed, step, eval_every)


class SpeedMeter:
    """Seconds per training step over an invocation's first steps (validation excluded)."""

    def __init__(self) -> None:
        self.seen, self.seen_seconds = 0, 0.0
        self.measured, self.measured_seconds = 0, 0.0  # the steps after the first SKIP_STEPS

    def add(self, seconds: float) -> None:
        self.seen += 1
        self.seen_seconds += seconds
        if self.seen > SKIP_STEPS:
            self.measured += 1
            self.measured_seconds += seconds

    def ready(self, step: int, warmup_steps: int) -> bool:
        """Enough measured; or the plan is needed now. The rate of every step up to and including
        `warmup_steps` does not depend on the plan (warm-up, then the peak), so a plan settled by
        then gives each step the rate of a run planned for that many steps from the start."""
        enough = self.measured >= MEASURE_STEPS and self.measured_seconds >= MEASURE_SECONDS
        return self.seen > 0 and (enough or step > warmup_steps)

    @property
    def seconds_per_step(self) -> float:
        if self.measured:
            return self.measured_seconds / self.measured
        return self.seen_seconds / max(self.seen, 1)


def describe(
    plan: StepPlan, windows_per_epoch: int, budget_minutes: float | None, chars_per_step: int
) -> str:
    """One line for people: what the plan is and why, and how often the run validates."""
    epochs = plan.total_steps / windows_per_epoch
    size = f"{plan.total_steps:,} steps ({epochs:.2f} epochs)"
    speed = f"{plan.chars_per_sec:,.0f} chars/s measured" if plan.chars_per_sec else ""
    if plan.limited_by == "max_minutes":
        line = (
            f"plan: {size} to fit the {budget_minutes:g}-minute budget at {speed}; "
            f"--max-steps {plan.total_steps} --max-minutes 0 repeats this run"
        )
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
