"""When a training run ends: its plan is done, its time budget is spent, a signal came, or it
diverged — decided identically on every rank (one small CPU all-reduce per step under torchrun)."""

from __future__ import annotations

import math
import signal
from dataclasses import dataclass
from pathlib import Path

from charrnn.errors import TrainingDiverged
from charrnn.model.checkpoint import StepPlan
from charrnn.train import distributed
from charrnn.train.divergence import DivergenceGuard
from charrnn.train.plan import LIMITS
from charrnn.train.signals import StopRequest


@dataclass(frozen=True)
class StepAgreement:
    """What every rank acts on before a step: rank 0's clock and plan, anyone's stop request."""

    stop_requested: bool
    run_seconds: float
    settled_plan: StepPlan | None  # a plan rank 0 settled at this step, else None


class EndRules:
    def __init__(
        self,
        budget_seconds: float | None,
        world: distributed.World,
        guard: DivergenceGuard,
        last_checkpoint: Path,
    ) -> None:
        self.budget_seconds, self.world, self.guard = budget_seconds, world, guard
        self.last_checkpoint = last_checkpoint
        self.control = distributed.control_group(world)

    def agree(self, values: list[float]) -> list[float]:
        """Element-wise maximum over ranks."""
        return distributed.agree(self.world, values, self.control)

    def agree_step(
        self, step: int, run_seconds: float, stop: StopRequest, proposal: StepPlan | None
    ) -> StepAgreement:
        """A signal seen by any rank stops all; rank 0's clock and plan are everyone's."""
        main = self.world.is_main
        plan = proposal if main and proposal is not None else None
        requested, seconds, total_plus_one, limit, speed, eval_every = self.agree(
            [
                float(stop.requested),
                run_seconds if main else 0.0,
                plan.total_steps + 1.0 if plan else 0.0,
                float(LIMITS.index(plan.limited_by)) if plan else 0.0,
                (plan.chars_per_sec or 0.0) if plan else 0.0,
                float(plan.eval_every or 0) if plan else 0.0,
            ]
        )
        if requested:
            stop.request(stop.signum or signal.SIGINT)
        settled = None
        if total_plus_one:
            limited_by = LIMITS[int(limit)]
            settled = StepPlan(
                int(total_plus_one) - 1, limited_by, True, speed or None, step, int(eval_every) or None
            )
        return StepAgreement(bool(requested), seconds, settled)

    def stop_reason(self, step: int, plan: StepPlan, agreed: StepAgreement) -> str | None:
        """Why to stop before `step`, or None to take it."""
        if agreed.stop_requested:
            return "interrupted"
        if step >= plan.total_steps:
            return plan.limited_by
        if self.budget_seconds is not None and agreed.run_seconds >= self.budget_seconds:
            return "max_minutes"
        return None

    def check_diverged(self) -> None:
        """Stop every rank at the first step any rank found bad (this reads the device)."""
        problem = self.guard.problem()
        (negated_step,) = self.agree([-problem[0] if problem else -math.inf])
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
