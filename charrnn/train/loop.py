"""Training, as the README tells it: start (fresh, resumed or fine-tuned), then window after
window take one step of truncated BPTT (step.py) at the rate the schedule gives for the step
plan, log every --log-every steps, validate, sample and save every --eval-every steps and at
the end, and stop when the plan is done, the time budget is spent, a signal comes or the loss
diverges. Reports go to observers (observers.py); nothing here prints.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from charrnn.measure.loss import LN2, MeasurementInterrupted
from charrnn.model.checkpoint import StepPlan, Validation
from charrnn.model.network import State
from charrnn.runtime import ids_to_device, synchronize
from charrnn.train import distributed
from charrnn.train.config import TrainConfig
from charrnn.train.divergence import DivergenceGuard
from charrnn.train.ending import EndRules
from charrnn.train.metrics_log import MetricsLog
from charrnn.train.observers import Observers, PlanSettled, StepsLogged, TrainObserver, Validated
from charrnn.train.plan import SpeedMeter, describe, settle
from charrnn.train.run_dir import clear_leftovers, last_checkpoint_path, lock_checkpoint_dir, metrics_path
from charrnn.train.schedule import learning_rate
from charrnn.train.signals import StopRequest, stop_on_signals
from charrnn.train.start import Run, snapshot, start_run
from charrnn.train.step import train_step
from charrnn.train.validation import preview, seconds_per_validation, validation_loss, validation_streams


@dataclass(frozen=True)
class TrainResult:
    stop_reason: str  # "epochs", "max_steps", "max_minutes" (the plan's limit or the budget), "interrupted"
    step: int
    epoch: int
    chars_seen: int
    seconds: float
    last_val_loss: float | None
    best_val_loss: float | None
    checkpoint_dir: str
    exit_code: int = 0


def train(
    config: TrainConfig,
    observers: Sequence[TrainObserver] = (),
    *,
    resume: bool = False,
    init_from: Path | None = None,
    force: bool = False,
    stop: StopRequest | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> TrainResult:
    """Train (or resume) a model as `config` says; SIGINT/SIGTERM stop it after a saved step.

    `clock` (seconds) is read for the time budget and the speed it is planned from, never for
    anything else: tests pass a fake one to make a budget-planned run deterministic.
    """
    run = start_run(config, resume=resume, init_from=init_from, force=force)
    directory = Path(run.config.checkpoint_dir)
    main = run.world.is_main  # rank 0 alone reports, writes the directory and holds its lock
    trainer = Trainer(
        run, Observers([MetricsLog(metrics_path(directory)), *observers] if main else []), clock
    )
    try:
        lock = (
            lock_checkpoint_dir(directory, force=force, warn=trainer.tell)
            if main
            else contextlib.nullcontext()
        )
        with lock, stop_on_signals(stop or StopRequest()) as request:
            if main:
                for warning in run.warnings:
                    trainer.tell(warning)
                if removed := clear_leftovers(
                    directory, resumed_at=run.progress.step if run.resumed else None
                ):
                    trainer.tell(f"removed {removed} unfinished write(s) left by an interrupted run")
            distributed.barrier(run.world)
            return trainer.train(request)
    finally:
        distributed.stop(run.world)


@dataclass
class _Interval:
    """The training steps since the last log line: summed loss (on the device), characters, start."""

    loss: torch.Tensor
    start: float
    steps: int = 0
    chars: int = 0


class Trainer:
    def __init__(self, run: Run, observers: Observers, clock: Callable[[], float]) -> None:
        self.run, self.observers, self.clock = run, observers, clock
        self.directory = Path(run.config.checkpoint_dir)
        self.guard = DivergenceGuard(run.corpus.vocab.size, run.device)
        self.end = EndRules(run.budget_seconds, run.world, self.guard, last_checkpoint_path(self.directory))
        self.parameters = list(run.model.parameters())

    def tell(self, text: str) -> None:
        self.observers.on_message(text)

    def train(self, stop: StopRequest) -> TrainResult:
        run, cfg, p = self.run, self.run.config, self.run.progress
        self._announce()
        started, seconds_before = self.clock(), p.seconds
        meter, previous, validation_seconds = SpeedMeter(), None, 0.0
        first_step = p.step
        # (step, segments) of the last validation, on every rank alike (rank 0 alone keeps history)
        validated = (run.history[-1].step, run.history[-1].val_streams) if run.history else None
        interval = _Interval(torch.zeros((), device=run.device), started)
        run.model.train()
        while True:
            if not run.plan.settled:  # measuring: the clock must see the device's work done
                synchronize(run.device)
            now = self.clock()
            p.seconds = seconds_before + now - started
            if previous is not None and not run.plan.settled:
                meter.add(now - previous - validation_seconds)  # the whole last step, logging included
            previous, validation_seconds = now, 0.0
            agreed = self.end.agree_step(p.step, p.seconds, stop, self._proposal(meter))
            if agreed.settled_plan is not None:
                self._settle(agreed.settled_plan)
            reason = self.end.stop_reason(p.step, run.plan, agreed)
            if reason is not None:
                if (
                    reason == "max_minutes"
                    and run.plan.settled
                    and first_step < p.step < run.plan.total_steps
                ):
                    left = run.plan.total_steps - p.step
                    self.tell(
                        f"the time budget ran out at step {p.step:,}, {left:,} steps before the plan's "
                        "end: training slowed down after the plan was made"
                    )
                break
            if p.window == 0:
                run.carried = None  # each epoch starts from a zero state
            lr = learning_rate(p.step, cfg.lr, cfg.warmup_steps, run.plan.total_steps, cfg.min_lr_frac)
            chars_before = p.chars_seen
            interval.loss += self._take_step(lr)
            interval.steps += 1
            interval.chars += p.chars_seen - chars_before
            p.seconds = seconds_before + self.clock() - started
            if p.step % cfg.log_every == 0:
                self._log(interval, lr)
            if run.plan.eval_every and p.step % run.plan.eval_every == 0:
                validation_started = self.clock()
                self.end.check_diverged()
                last = p.step >= run.plan.total_steps
                self._validate(stop, last=last)  # cut short: the loop's next check stops and saves
                validated = (p.step, validation_streams(cfg, last))
                interval.start = self.clock()
                validation_seconds = interval.start - validation_started
        self.end.check_diverged()
        # the last validation is exact (unless --val-streams): after a segmented one the clock
        # cut the run at, the exact one follows at the same step
        ended_validated = validated == (p.step, validation_streams(cfg, last=True))
        if reason != "interrupted" and not ended_validated and not self._validate(stop, last=True):
            reason = "interrupted"
        p.seconds = seconds_before + self.clock() - started
        if reason == "interrupted":
            self._save(
                best=False, carried=self._gathered_state()
            )  # fast: a signal asks to stop within seconds
            self.tell(f"interrupted at step {p.step}: saved {last_checkpoint_path(self.directory)}")
        return self._result(reason, stop)

    def _take_step(self, lr: float) -> torch.Tensor:
        """The next window of this rank's streams, one step on it; the loss, on the device."""
        run, p = self.run, self.run.progress
        inputs, targets = run.layout.window(p.window)
        result = train_step(
            run.forward,
            self.parameters,
            run.optimizer,
            ids_to_device(inputs[run.rows], run.device),  # (b, T): this rank's streams
            ids_to_device(targets[run.rows], run.device),
            run.carried,
            lr=lr,
            grad_clip=run.config.grad_clip,
            precision=run.precision,
        )
        run.carried = result.state
        self.guard.observe(p.step + 1, result.loss, result.grad_norm)
        p.step += 1
        p.chars_seen += inputs.size  # the global batch: every rank's streams
        p.window += 1
        if p.window == run.layout.windows_per_epoch:
            p.epoch, p.window = p.epoch + 1, 0
        return result.loss

    # -- reporting -------------------------------------------------------------------------
    def _announce(self) -> None:
        run, p = self.run, self.run.progress
        self.observers.on_start(run.started())
        if run.plan.settled:
            self.tell(self._describe_plan())
        if p.step >= run.plan.total_steps:
            self.tell(
                f"the run is complete (step {p.step:,} of its {run.plan.total_steps:,}-step plan): "
                "to extend it, resume with a larger --max-steps, --epochs or --max-minutes"
            )

    def _log(self, interval: _Interval, lr: float) -> None:
        """Report the steps since the last log line (this reads the device), and start anew."""
        self.end.check_diverged()
        p = self.run.progress
        elapsed = self.clock() - interval.start
        train_loss = float(distributed.mean(self.run.world, interval.loss)) / interval.steps
        self.observers.on_log(
            StepsLogged(
                step=p.step,
                epoch=self.run.epoch,
                chars_seen=p.chars_seen,
                seconds=round(p.seconds, 3),
                train_loss=train_loss,
                train_bpc=train_loss / LN2,
                lr=lr,
                chars_per_sec=interval.chars / max(elapsed, 1e-9),
                total_steps=self.run.planned_steps,
            )
        )
        interval.loss.zero_()
        interval.steps, interval.chars, interval.start = 0, 0, self.clock()

    # -- validation and checkpoints ----------------------------------------------------------
    def _validate(self, stop: StopRequest, last: bool) -> bool:
        """Validate (exactly if it is the run's `last` validation, unless --val-streams says
        otherwise), sample and save (rank 0; the others wait); False if a stop request cut the
        validation short."""
        run, p = self.run, self.run.progress
        carried = self._gathered_state()
        if not run.world.is_main:  # rank 0 validates, samples and saves meanwhile
            (interrupted,) = self.end.agree([0.0])
            return not interrupted
        try:
            streams = validation_streams(run.config, last)
            report = validation_loss(run, should_stop=lambda: stop.requested, streams=streams)
        except MeasurementInterrupted:
            self.end.agree([1.0])
            return False
        self.end.check_validation(p.step, report.nats_per_char)
        improved = report.nats_per_char < p.best_val_loss
        if improved:
            p.best_val_loss = report.nats_per_char
        validation = Validation(
            step=p.step,
            epoch=run.epoch,
            chars_seen=p.chars_seen,
            seconds=round(p.seconds, 3),
            val_loss=report.nats_per_char,
            val_bpc=report.bits_per_char,
            val_perplexity=report.perplexity,
            val_chars=report.num_predicted,
            val_streams=streams,
            best=improved,
        )
        run.history.append(validation)
        sample = preview(run)
        self._save(best=improved, carried=carried)
        self.end.agree([0.0])
        self.observers.on_validation(Validated(validation, sample))
        return True

    def _gathered_state(self) -> State | None:
        """The global batch's carried state (collective: every rank calls it)."""
        run = self.run
        return distributed.gather_streams(run.world, run.carried) if run.carried is not None else None

    def _save(self, best: bool, carried: State | None) -> None:
        """last.pt (and best.pt) with the global batch's `carried` state; rank 0 alone writes."""
        if not self.run.world.is_main:
            return
        checkpoint = snapshot(self.run, carried)
        checkpoint.save(last_checkpoint_path(self.directory))
        if best:
            checkpoint.save(self.directory / "best.pt")

    # -- the plan ------------------------------------------------------------------------------
    def _proposal(self, meter: SpeedMeter) -> StepPlan | None:
        """Rank 0's settled plan, once the first steps have been measured; else None."""
        run, p = self.run, self.run.progress
        if run.plan.settled or not run.world.is_main:
            return None
        if not meter.ready(p.step, run.config.warmup_steps):
            return None
        periodic = validation_streams(run.config, last=False)
        final = validation_streams(run.config, last=True)
        periodic_seconds = seconds_per_validation(run, self.clock, periodic)  # one probe if they agree
        last_seconds = (
            periodic_seconds if final == periodic else seconds_per_validation(run, self.clock, final)
        )
        return settle(
            run.plan,  # unsettled: the steps asked for
            step=p.step,
            seconds_spent=p.seconds,
            budget_seconds=run.budget_seconds,
            seconds_per_step=meter.seconds_per_step,
            seconds_per_validation=periodic_seconds,
            seconds_per_last_validation=last_seconds,
            eval_every=run.config.eval_every,
            chars_per_step=run.chars_per_step,
        )

    def _settle(self, plan: StepPlan) -> None:
        run, p = self.run, self.run.progress
        run.plan = plan
        self.tell(self._describe_plan())
        self.observers.on_plan(PlanSettled(p.step, run.epoch, p.chars_seen, round(p.seconds, 3), plan))

    def _describe_plan(self) -> str:
        run = self.run
        return describe(run.plan, run.layout.windows_per_epoch, run.config.max_minutes, run.chars_per_step)

    def _result(self, reason: str, stop: StopRequest) -> TrainResult:
        run, p = self.run, self.run.progress
        return TrainResult(
            stop_reason=reason,
            step=p.step,
            epoch=p.epoch,
            chars_seen=p.chars_seen,
            seconds=p.seconds,
            last_val_loss=run.history[-1].val_loss if run.history else None,
            best_val_loss=p.best_val_loss if math.isfinite(p.best_val_loss) else None,
            checkpoint_dir=str(self.directory),
            exit_code=stop.exit_code if reason == "interrupted" else 0,
        )
