"""When a training run ends: its limits (epochs, steps, minutes), a signal, or divergence —
decided identically on every rank (one small CPU all-reduce per step under torchrun)."""

from __future__ import annotations

import math
import signal
import time
from pathlib import Path

from charrnn import distributed
from charrnn.divergence import DivergenceGuard
from charrnn.errors import TrainingDiverged
from charrnn.stopping import StopRequest
from charrnn.train_config import TrainConfig


class EndRules:
    def __init__(
        self,
        config: TrainConfig,
        epoch_steps: int,
        world: distributed.World,
        guard: DivergenceGuard,
        last_checkpoint: Path,
    ) -> None:
        self.config, self.epoch_steps, self.world, self.guard = config, epoch_steps, world, guard
        self.last_checkpoint = last_checkpoint
        self.control = distributed.control_group(world)

    def agree(self, values: list[float]) -> list[float]:
        """Element-wise maximum over ranks."""
        return distributed.agree(self.world, values, self.control)

    def decide(self, step: int, started: float, stop: StopRequest) -> tuple[str | None, float]:
        """(why to stop now, or None; how far along the clock the run is), the same on every rank:
        a signal seen by any rank stops all, and rank 0's clock is everyone's."""
        cfg = self.config
        clock = self._time_fraction(started) if self.world.is_main else 0.0
        requested, clock = self.agree([float(stop.requested), clock])
        if requested:
            stop.request(stop.signum or signal.SIGINT)
            return "interrupted", clock
        if step >= self.epoch_steps:
            return "epochs", clock
        if cfg.max_steps is not None and step >= cfg.max_steps:
            return "max_steps", clock
        if clock >= 1.0:
            return "max_minutes", clock
        return None, clock

    def _time_fraction(self, started: float) -> float:
        if self.config.max_minutes is None:
            return 0.0
        return (time.perf_counter() - started) / (self.config.max_minutes * 60)

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
