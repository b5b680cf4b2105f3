"""The time budget's one home: the clock, the speed measured as the run goes, the step plan
settled from them and re-settled as the run goes, and the answer to "stop now?".

The training loop asks `stop_reason()` before every step and wraps every validation in
`validation()`; everything else about time happens here:

- The clock starts with the invocation (start-up counts), and the run's seconds add up over
  every invocation of a run (`Progress.seconds`), as `--max-minutes` does.
- The first plan (plan.py's `settle`) comes after at least MEASURE_STEPS steps and
  MEASURE_SECONDS seconds, from their speed and probes of what a validation pass costs.
- After every RESETTLE_SHARE of the budget's training, the plan is re-settled from the speed of
  the slowest of the latest STRETCHES such stretches (a validation's time left out, its cost
  measured for the plan), so the decay ends at about the end of the budget although the machine
  sped up or slowed down: the budget wins. A plan re-settled once the decay has begun continues
  the decay from where it is (schedule.py). A re-settled plan is adopted where it differs from
  the current one by more than REPLAN_TOLERANCE; every plan adopted is told to the observers
  (metrics.jsonl) and kept in the checkpoint.
- The budget holds back the price of the run's last validation: the clock stops a run that has
  fallen behind its plan before a step that would leave too little time for that validation to
  end within the budget (the next step is expected to take as long as the latest one).

A step's learning rate depends on the plans adopted before it and on nothing else: a run whose
plans changed only before the decay is repeated by its last plan's `--max-steps N --max-minutes
0`, any run by `--replay` (its recorded plans, each adopted at its step: `_recorded`). Under
torchrun rank 0's clock and plans are everyone's (one small all-reduce per step).
"""

from __future__ import annotations

import collections
import contextlib
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from charrnn.model.records import StepPlan
from charrnn.runtime import synchronize
from charrnn.train.distributed import Collective
from charrnn.train.observers import PlanSettled, TrainObserver
from charrnn.train.plan import LIMITS, UNLIMITED, describe, settle, steps_asked_for
from charrnn.train.signals import StopRequest
from charrnn.train.speed import Meter, Prices
from charrnn.train.start import Run
from charrnn.train.validation import EXACT_SHARE, seconds_per_validation, validation_segments

# Steps of each invocation not measured (first-call allocations), then at least MEASURE_STEPS
# steps and MEASURE_SECONDS seconds of training are measured before the first plan is settled.
SKIP_STEPS = 2
MEASURE_STEPS = 10
MEASURE_SECONDS = 10.0
# A re-settled plan this close to the current one (a fraction of its steps) is not adopted.
REPLAN_TOLERANCE = 0.005
# Until the decay starts, the plan is re-settled after every validation and after each stretch of
# training this share of the budget long (30 s of the default 9.5 minutes).
RESETTLE_SHARE = 0.05
STRETCHES = 3  # the speed planned on: the slowest of the latest stretches


@dataclass(frozen=True)
class _Agreed:
    stop_requested: bool
    out_of_time: bool
    plan: StepPlan | None  # a plan rank 0 settled now, else None


class Budget:
    def __init__(
        self,
        run: Run,
        clock: Callable[[], float],
        started: float,
        collective: Collective,
        observers: TrainObserver,
    ) -> None:
        """`started` is the clock's reading when the invocation began; `observers` are told each
        plan adopted, and its description for people."""
        self.run, self.clock, self.started = run, clock, started
        self.collective, self.observers = collective, observers
        config = run.config
        self.budget_seconds = run.budget_seconds
        self.asked = steps_asked_for(run.layout.windows_per_epoch, config.epochs, config.max_steps)
        self.seconds_before = run.progress.seconds
        self.first_step = run.progress.step
        self.checks = 0  # stop checks in this invocation
        self.start_meter = Meter(run.progress.step, run.progress.seconds)  # from the invocation's start
        self.step_seconds = 0.0  # the latest step's seconds: the next one is expected to take as long
        self.meter: Meter | None = None  # from the first step measured, reset at each re-settle
        self.stretches: collections.deque[Meter] = collections.deque(maxlen=STRETCHES - 1)  # the last ones
        self.prices: Prices | None = None
        self.last_segments = run.plan.last_val_segments  # the last validation's, as _probe decides

    # -- the loop's questions -------------------------------------------------------------------
    def seconds(self) -> float:
        """The run's training seconds so far (every invocation's, start-up included)."""
        p = self.run.progress
        p.seconds = self.seconds_before + self.clock() - self.started
        return p.seconds

    def stop_reason(self, stop: StopRequest) -> str | None:
        """Before a step: why to stop now ("interrupted", the plan's limit, "max_minutes"), or None.
        Settles the first plan once the speed is measured, and adopts a re-settled one."""
        run, step = self.run, self.run.progress.step
        if not run.plan.settled:  # measuring: the clock must see the device's work done
            synchronize(run.device)
        now = self.seconds()
        self._lap(step, now)
        proposal = self._recorded(step) or self._first_plan(step, now) or self._due(step, now)
        agreed = self._agree(stop, now, proposal)
        if agreed.plan is not None:
            self._adopt(agreed.plan, resettled=run.plan.settled)
        if agreed.stop_requested:
            return "interrupted"
        if step >= run.plan.total_steps:
            return run.plan.limited_by
        if agreed.out_of_time:
            return "max_minutes"
        return None

    def validation_due(self, step: int) -> bool:
        every = self.run.plan.eval_every
        return every is not None and step % every == 0

    def is_last(self, step: int) -> bool:
        return step >= self.run.plan.total_steps

    @contextlib.contextmanager
    def validation(self, last: bool) -> Iterator[None]:
        """Time the validation inside (not training: the speed leaves it out); one before the
        last prices the validations of the plans re-settled after it."""
        step, began = self.run.progress.step, self.seconds()
        self._lap(step, began)
        yield
        ended = self.seconds()
        for meter in (self.start_meter, self.meter):
            if meter is not None:
                meter.skip(step, ended)
        if last or not self.run.plan.settled:
            return
        if self.prices is not None:
            self.prices = replace(self.prices, periodic=ended - began)

    def ending_note(self, reason: str) -> str | None:
        """A line for people where the run did not end its plan at the end of its budget."""
        run, p = self.run, self.run.progress
        plan, budget = run.plan, self.budget_seconds
        if not plan.settled or budget is None or p.step <= self.first_step:
            return None
        if reason == "max_minutes" and p.step < plan.total_steps:
            return (
                f"the time budget ran out at step {p.step:,}, {plan.total_steps - p.step:,} steps before "
                "the plan's end: training slowed down after the plan was last settled"
            )
        left = budget - p.seconds
        if reason == "max_minutes" and plan.limited_by == "max_minutes" and left > 0.05 * budget:
            return (
                f"the plan ended {left:.0f} s before the end of its budget: training sped up after "
                "the plan was last settled"
            )
        return None

    # -- measuring and settling ------------------------------------------------------------------
    def _lap(self, step: int, now: float) -> None:
        self.checks += 1
        last = self.start_meter
        if step > last.last_step and self.checks > SKIP_STEPS + 1:
            self.step_seconds = (now - last.last_seconds) / (step - last.last_step)
        self.start_meter.lap(step, now)
        if self.meter is not None:
            self.meter.lap(step, now)
        elif self.checks == SKIP_STEPS + 1:
            self.meter = Meter(step, now)

    def _recorded(self, step: int) -> StepPlan | None:
        """A replay's next recorded plan, where this is the step it was settled at; else None."""
        replaying = self.run.replaying
        if replaying and (replaying[0].measured_at_step or 0) <= step:
            return replaying.pop(0)
        return None

    def _first_plan(self, step: int, now: float) -> StepPlan | None:
        """Rank 0's first plan, once the first steps have been measured (or the plan is needed
        now: the next step's rate would depend on it); else None."""
        run = self.run
        if run.plan.settled or not run.world.is_main or self.start_meter.steps == 0:
            return None
        meter = self.meter
        enough = meter is not None and meter.steps >= MEASURE_STEPS and meter.seconds >= MEASURE_SECONDS
        needed = step > run.config.schedule.decay_start(run.plan.total_steps)
        if not (enough or needed):
            return None
        seconds_per_step = (meter if meter is not None and meter.steps else self.start_meter).seconds_per_step
        self.prices = self._probe()
        now = self.seconds()  # the probes took time too
        for started in (self.start_meter, self.meter):
            if started is not None:
                started.skip(step, now)
        return self._settle(step, now, seconds_per_step, shortest=step)

    def _due(self, step: int, now: float) -> StepPlan | None:
        """Rank 0's plan re-settled, once RESETTLE_SHARE of the budget has passed since the last."""
        meter, budget = self.meter, self.budget_seconds
        if not self.run.plan.settled or not self.run.world.is_main or meter is None or budget is None:
            return None
        return self._resettled(step, now) if meter.seconds >= RESETTLE_SHARE * budget else None

    def _resettled(self, step: int, now: float) -> StepPlan | None:
        """The plan settled anew from the slowest of the latest STRETCHES stretches of training,
        where the budget sizes the run and it differs enough from the current plan; else None.
        Inside the decay too: the new plan continues the decay from where it is (schedule.py)."""
        run, meter = self.run, self.meter
        if self.budget_seconds is None or meter is None or meter.steps == 0:
            return None
        if self.prices is None:
            self.prices = self._probe()
            now = self.seconds()
        # The slowest of the latest STRETCHES stretches: a slower machine is followed at once, a
        # faster one once it has stayed faster that long, and a fast moment of a noisy machine is
        # not planned on.
        seconds_per_step = max(m.seconds_per_step for m in (meter, *self.stretches) if m.steps)
        plan = self._settle(step, now, seconds_per_step, shortest=step)
        self.stretches.append(meter)
        self.meter = Meter(step, now)
        current = run.plan.total_steps
        if abs(plan.total_steps - current) <= REPLAN_TOLERANCE * current:
            return None
        fits = now + (plan.total_steps - step) * seconds_per_step <= self.budget_seconds
        if not fits and plan.total_steps > current:
            return None  # a longer plan that does not fit: never
        return plan

    def _settle(self, step: int, now: float, seconds_per_step: float, shortest: int) -> StepPlan:
        run = self.run
        assert self.prices is not None
        plan = settle(
            self.asked,
            step=step,
            seconds_spent=now,
            budget_seconds=self.budget_seconds,
            seconds_per_step=seconds_per_step,
            seconds_per_validation=self.prices.periodic,
            seconds_per_last_validation=self.prices.last,
            # the cadence of the first plan stays: a changed one would validate again at once
            eval_every=run.config.eval_every or (run.plan.eval_every if run.plan.settled else None),
            chars_per_step=run.chars_per_step,
            shortest=shortest,
        )
        return replace(plan, last_val_segments=self.last_segments)

    def _probe(self) -> Prices:
        """Time a short stretch of each kind of validation (one probe if they are the same kind).
        An exact last validation that would cost more than EXACT_SHARE of the budget is made
        warmed segments, as the periodic ones are (the plan records it)."""
        run = self.run
        periodic = validation_segments(run.config, last=False)
        last = validation_segments(run.config, last=True, plan=run.plan)
        periodic_seconds = seconds_per_validation(run, self.clock, periodic)
        if last == periodic:
            return Prices(periodic_seconds, 1.0)
        last_seconds = seconds_per_validation(run, self.clock, last)
        budget = self.budget_seconds
        if budget is not None and run.config.val_segments is None and last_seconds > EXACT_SHARE * budget:
            self.last_segments = periodic
            return Prices(periodic_seconds, 1.0)
        return Prices(periodic_seconds, last_seconds / max(periodic_seconds, 1e-9))

    def _adopt(self, plan: StepPlan, resettled: bool) -> None:
        """Follow `plan` from now on; where the decay has begun, it goes on from where it is."""
        run, old = self.run, self.run.plan
        continued = run.config.schedule.continued(
            run.progress.step, old.total_steps, old.decay_from, old.decay_progress, plan.total_steps
        )
        if continued is not None and plan.decay_from is None:
            plan = replace(plan, decay_from=continued[0], decay_progress=continued[1])
        run.plan = plan
        run.plans.append(plan)
        windows, chars, p = run.layout.windows_per_epoch, run.chars_per_step, run.progress
        sized_width = run.sizing.width if run.sizing else None
        self.observers.on_message(
            describe(plan, windows, run.config.max_minutes, chars, resettled, sized_width=sized_width)
        )
        self.observers.on_plan(PlanSettled(p.step, run.epoch, p.chars_seen, round(p.seconds, 3), plan))

    def _agree(self, stop: StopRequest, now: float, proposal: StepPlan | None) -> _Agreed:
        """A signal seen by any rank stops all; rank 0's clock and plan are everyone's."""
        main = self.run.world.is_main
        held_back = self.prices.last if self.prices is not None and self.run.plan.settled else 0.0
        next_ends = (
            now + self.step_seconds + held_back
        )  # when the next step and the last validation would end
        late = main and self.budget_seconds is not None and next_ends > self.budget_seconds
        plan = proposal if main else None
        requested, out_of_time, total_plus_one, limit, speed, every, segments = self.collective.max(
            [
                float(stop.requested),
                float(late),
                plan.total_steps + 1.0 if plan else 0.0,  # exact in a float64: plans < UNLIMITED
                float(LIMITS.index(plan.limited_by)) if plan else 0.0,
                (plan.chars_per_sec or 0.0) if plan else 0.0,
                float(plan.eval_every or 0) if plan else 0.0,
                float(plan.last_val_segments) if plan else 0.0,
            ]
        )
        if requested:
            stop.request(stop.signum or signal.SIGINT)
        agreed = None
        if total_plus_one:
            total = min(int(total_plus_one) - 1, UNLIMITED)
            step = self.run.progress.step
            agreed = proposal if main and proposal is not None else StepPlan(
                total, LIMITS[int(limit)], True, speed or None, step, int(every) or None,
                last_val_segments=int(segments),
            )  # fmt: skip
        return _Agreed(bool(requested), bool(out_of_time), agreed)
