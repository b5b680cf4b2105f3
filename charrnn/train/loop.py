"""Training, as the README tells it: start (fresh, resumed or fine-tuned), then window after
window take one step of truncated BPTT (step.py) at the rate the schedule gives for the step
plan, log every --log-every steps, validate, sample and save at the plan's cadence and at the
end, and stop when the budget (budget.py) says so: the plan is done, the time is up, a signal
came. Reports go to observers (observers.py); nothing here prints.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from charrnn.measure.loss import LN2, MeasurementInterrupted
from charrnn.model.network import State
from charrnn.model.records import StepPlan, Validation
from charrnn.runtime import ids_to_device
from charrnn.train import distributed
from charrnn.train.budget import Budget
from charrnn.train.config import TrainConfig
from charrnn.train.divergence import DivergenceCheck, DivergenceGuard
from charrnn.train.metrics_log import MetricsLog
from charrnn.train.observers import Observers, StepsLogged, TrainObserver, Validated
from charrnn.train.plan import describe
from charrnn.train.run_dir import clear_leftovers, last_checkpoint_path, lock_checkpoint_dir, metrics_path
from charrnn.train.signals import StopRequest, stop_on_signals
from charrnn.train.start import Run, snapshot, start_run
from charrnn.train.step import train_step
from charrnn.train.thread_check import same_bits
from charrnn.train.threads import ThreadTuner
from charrnn.train.validation import preview, validation_loss, validation_segments


@dataclass(frozen=True)
class TrainResult:
    stop_reason: str  # "epochs", "max_steps", "max_minutes" (the plan's limit or the budget), "interrupted"
    step: int
    epochs_done: int
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
    started: float | None = None,
    replay: tuple[StepPlan, ...] = (),
) -> TrainResult:
    """Train (or resume) a model as `config` says; SIGINT/SIGTERM stop it after a saved step.

    `clock` (seconds) is read for the time budget and the speed it is planned from, never for
    anything else: tests pass a fake one to make a budget-planned run deterministic. `started`
    is its reading when the invocation began (the CLI's, before PyTorch is imported; default now).
    `replay`: a recorded run's plans, to repeat it (train/run_config.py's config_for_replay).
    """
    started = clock() if started is None else started
    run = start_run(config, resume=resume, init_from=init_from, force=force, replay=replay)
    directory = Path(run.config.checkpoint_dir)
    main = run.world.is_main  # rank 0 alone reports, writes the directory and holds its lock
    trainer = Trainer(
        run, Observers([MetricsLog(metrics_path(directory)), *observers] if main else []), clock, started
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
    def __init__(self, run: Run, observers: Observers, clock: Callable[[], float], started: float) -> None:
        self.run, self.observers = run, observers
        self.directory = Path(run.config.checkpoint_dir)
        self.collective = distributed.Collective(run.world)
        self.guard = DivergenceGuard(run.corpus.vocab.size, run.device)
        last = last_checkpoint_path(self.directory)
        self.divergence = DivergenceCheck(self.guard, self.collective, last)
        self.budget = Budget(run, clock, started, self.collective, observers)
        self.parameters = list(run.model.parameters())
        tunable = run.device.type == "cpu" and not run.world.active and run.config.threads is None
        self.threads = ThreadTuner(run.threads, partial(same_bits, run)) if tunable else None
        self.interval = _Interval(torch.zeros((), device=run.device), self.budget.seconds())
        # (step, segments) of the last validation, on every rank alike (rank 0 alone keeps history)
        self.validated = (run.history[-1].step, run.history[-1].val_segments) if run.history else None

    def tell(self, text: str) -> None:
        self.observers.on_message(text)

    def train(self, stop: StopRequest) -> TrainResult:
        """Before each step, ask the budget whether to stop; take the step at the schedule's rate;
        log; validate, sample and save at the plan's cadence; end with an exact validation."""
        run, cfg, p, budget = self.run, self.run.config, self.run.progress, self.budget
        self._announce()
        run.model.train()
        while (reason := budget.stop_reason(stop)) is None:
            if p.window == 0:
                run.carried = None  # each epoch starts from a zero state
            lr = run.rate(p.step)
            self._take_step(lr)  # forward, the loss of every time step, backward, clip, AdamW
            if p.step % cfg.log_every == 0:
                self._log(lr)
            if budget.validation_due(p.step):
                last = budget.is_last(p.step)
                with budget.validation(last):
                    self._validate(stop, last)  # cut short by a signal: the next check stops and saves
        return self._end(reason, stop)

    def _end(self, reason: str, stop: StopRequest) -> TrainResult:
        """The last validation exact, unless the run ended on one (or --val-segments says);
        interrupted: saved at once, for a signal asks to stop within seconds."""
        p = self.run.progress
        self.divergence.check()
        exact = (p.step, validation_segments(self.run.config, last=True, plan=self.run.plan))
        if reason != "interrupted" and self.validated != exact:
            with self.budget.validation(last=True):
                if not self._validate(stop, last=True):
                    reason = "interrupted"
        self.budget.seconds()
        if reason == "interrupted":
            self._save(best=False, carried=self._gathered_state())
            self.tell(f"interrupted at step {p.step}: saved {last_checkpoint_path(self.directory)}")
        elif note := self.budget.ending_note(reason):
            self.tell(note)
        return self._result(reason, stop)

    def _take_step(self, lr: float) -> None:
        """The next window of this rank's streams, one step on it; its loss kept on the device."""
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
            p.epochs_done, p.window = p.epochs_done + 1, 0
        self.interval.loss += result.loss
        self.interval.steps += 1
        self.interval.chars += inputs.size

    def _announce(self) -> None:
        run, p = self.run, self.run.progress
        self.observers.on_start(run.started())
        if run.plan.settled:
            self.tell(
                describe(
                    run.plan,
                    run.layout.windows_per_epoch,
                    run.config.max_minutes,
                    run.chars_per_step,
                    sized_width=run.sizing.width if run.sizing else None,
                )  # fmt: skip
            )
        if p.step >= run.plan.total_steps:
            self.tell(
                f"the run is complete (step {p.step:,} of its {run.plan.total_steps:,}-step plan): "
                "to extend it, resume with a larger --max-steps, --epochs or --max-minutes"
            )

    def _log(self, lr: float) -> None:
        """Report the steps since the last log line (this reads the device), and start anew."""
        self.divergence.check()
        p, interval = self.run.progress, self.interval
        now = self.budget.seconds()
        if self.threads is not None:
            self.threads.observe(interval.steps, now - interval.start)
        train_loss = float(distributed.mean(self.run.world, interval.loss)) / interval.steps
        self.observers.on_log(
            StepsLogged(
                step=p.step,
                epoch=self.run.epoch,
                chars_seen=p.chars_seen,
                seconds=round(now, 3),
                train_loss=train_loss,
                train_bpc=train_loss / LN2,
                lr=lr,
                chars_per_sec=interval.chars / max(now - interval.start, 1e-9),
                total_steps=self.run.planned_steps,
                threads=torch.get_num_threads(),
            )
        )
        interval.loss.zero_()
        interval.steps, interval.chars, interval.start = 0, 0, now

    # -- validation and checkpoints ----------------------------------------------------------
    def _validate(self, stop: StopRequest, last: bool) -> bool:
        """Validate (exactly if it is the run's `last` validation, unless --val-segments says
        otherwise), sample and save (rank 0; the others wait); False if a stop request cut the
        validation short."""
        run, p = self.run, self.run.progress
        self.divergence.check()
        carried = self._gathered_state()
        segments = validation_segments(run.config, last, run.plan)
        if not run.world.is_main:  # rank 0 validates, samples and saves meanwhile
            (interrupted,) = self.collective.max([0.0])
            return self._validated(p.step, segments, not interrupted)
        try:
            report = validation_loss(run, should_stop=lambda: stop.requested, segments=segments)
        except MeasurementInterrupted:
            self.collective.max([1.0])
            return False
        self.divergence.check_validation(p.step, report.nats_per_char)
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
            val_segments=segments,
            best=improved,
        )
        run.history.append(validation)
        sample = preview(run)
        self._save(best=improved, carried=carried)
        self.collective.max([0.0])
        self.observers.on_validation(Validated(validation, sample))
        return self._validated(p.step, segments, True)

    def _validated(self, step: int, segments: int, done: bool) -> bool:
        if done:
            self.validated = (step, segments)
            self.interval.start = self.budget.seconds()  # the log's chars/s leaves validation out
        return done

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

    def _result(self, reason: str, stop: StopRequest) -> TrainResult:
        run, p = self.run, self.run.progress
        return TrainResult(
            stop_reason=reason,
            step=p.step,
            epochs_done=p.epochs_done,
            chars_seen=p.chars_seen,
            seconds=p.seconds,
            last_val_loss=run.history[-1].val_loss if run.history else None,
            best_val_loss=p.best_val_loss if math.isfinite(p.best_val_loss) else None,
            checkpoint_dir=str(self.directory),
            exit_code=stop.exit_code if reason == "interrupted" else 0,
        )
