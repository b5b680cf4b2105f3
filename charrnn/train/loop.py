"""The training loop: summed per-step cross-entropy, truncated BPTT, clipping, evaluation, checkpoints.

Reports go through TrainObserver callbacks (metrics.py); nothing here prints.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from charrnn.data.batching import stream_layout
from charrnn.data.corpus import split_train_val
from charrnn.generate.sampling import sample_text
from charrnn.measure.loss import LN2, EvaluationInterrupted, stream_loss
from charrnn.model.checkpoint import remove_unfinished_writes, save_checkpoint
from charrnn.model.network import CharRNN, State, count_parameters, detach_state
from charrnn.runtime import (
    autocast,
    choose_device,
    configure_threads,
    ids_to_device,
    physical_cores,
    synchronize,
)
from charrnn.train import distributed
from charrnn.train.config import TrainConfig
from charrnn.train.divergence import DivergenceGuard
from charrnn.train.ending import EndRules
from charrnn.train.observers import MetricsLog, RunInfo, TrainObserver, rewind_metrics
from charrnn.train.plan import SpeedMeter, StepPlan, describe, fit_to_budget, steps_asked_for
from charrnn.train.record import RUN_FILES, Progress, TrainResult, checkpoint_payload
from charrnn.train.run_dir import lock_checkpoint_dir
from charrnn.train.schedule import learning_rate
from charrnn.train.signals import StopRequest, stop_on_signals
from charrnn.train.start import (
    check_start_options,
    continued_plan,
    last_checkpoint_path,
    load_start,
    restore_rng,
    run_precision,
)


@dataclass
class _Interval:
    """The training steps since the last log line: summed loss (on the device), characters, start."""

    loss: torch.Tensor
    start: float
    steps: int = 0
    chars: int = 0


PLAN_PROBE_CHARS = 16_384  # validation characters timed to price a validation pass for the plan


class _Run:
    """The state of one training invocation; `train()` is the public entry point.

    Construction reads and checks every input and writes nothing; `prepare_directory` (under the
    directory's lock) is the first write.
    """

    def __init__(
        self,
        config: TrainConfig,
        observers: Sequence[TrainObserver],
        resume: bool,
        init_from: Path | None,
        force: bool,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.config = config
        self.clock = clock
        self.world = world = distributed.world_from_env()
        self.observers = list(observers) if world.is_main else []  # rank 0 alone reports
        self.checkpoint_dir = Path(config.checkpoint_dir)
        self.device = distributed.start(world, choose_device(config.device))
        self.threads = configure_threads(config.threads or max(1, physical_cores() // world.local_size))
        torch.manual_seed(config.seed)
        start = load_start(config, self.device, resume=resume, init_from=init_from, force=force)
        self.config = config = start.config
        self.precision, precision_warning = run_precision(start.saved, config, self.device)
        corpus = start.corpus
        self.corpus = corpus
        self.vocab = corpus.vocab
        self.train_ids, self.val_ids = split_train_val(corpus.ids, config.val_frac)
        self.layout = stream_layout(self.train_ids, config.batch_size, config.seq_len)
        self.rows = distributed.rows_of(world, config.batch_size)  # this rank's streams

        self.model = CharRNN(config.model_config(self.vocab.size)).to(self.device)
        if start.model_state is not None:
            self.model.load_state_dict(start.model_state)
        # What the training step calls: the model itself, or DDP around it (gradients averaged).
        self.trained: torch.nn.Module = self.model
        if world.active:
            self.trained = torch.nn.parallel.DistributedDataParallel(self.model)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=config.lr,
            betas=(0.9, 0.99),
            weight_decay=config.weight_decay,
        )
        self.progress = Progress()
        self.history: list[dict[str, Any]] = []
        self.carried: State | None = None
        if start.saved is not None:
            self._restore(start.saved)
        self.resumed = start.saved is not None
        self.guard = DivergenceGuard(self.vocab.size, self.device)
        self.metrics = MetricsLog(self.checkpoint_dir / "metrics.jsonl")
        if world.is_main:
            self.observers.insert(0, self.metrics)
        self.budget_seconds = None if config.max_minutes is None else config.max_minutes * 60
        asked = steps_asked_for(self.layout.windows_per_epoch, config.epochs, config.max_steps)
        self.plan: StepPlan = continued_plan(start.saved, config) or StepPlan(
            asked.total_steps, asked.limited_by, settled=self.budget_seconds is None
        )
        self.end = EndRules(self.budget_seconds, world, self.guard, last_checkpoint_path(self.checkpoint_dir))
        self.warnings = [precision_warning] if precision_warning else []

    def _restore(self, saved: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(saved["optimizer_state"])
        self.progress = Progress(**dict(saved["progress"]))
        self.history = list(saved["history"])
        carried = saved.get("carried_state")
        self.carried = tuple(t[:, self.rows].to(self.device).float() for t in carried) if carried else None
        restore_rng(saved["rng"])

    def prepare_directory(self) -> None:
        """Clear what a killed or replaced run left behind, so that nothing mixes with this run."""
        for warning in self.warnings:
            self.tell(warning)
        removed = remove_unfinished_writes(self.checkpoint_dir, RUN_FILES)
        if removed:
            self.tell(f"removed {removed} unfinished write(s) left by an interrupted run")
        if self.resumed:
            rewind_metrics(self.metrics.path, self.progress.step)
        else:  # load_start refused unless the directory held no run or --force starts over
            for name in RUN_FILES:
                (self.checkpoint_dir / name).unlink(missing_ok=True)

    # -- reporting -------------------------------------------------------------------------
    def _emit(self, method: str, *args: Any) -> None:
        for observer in self.observers:
            getattr(observer, method)(*args)

    def tell(self, text: str) -> None:
        self._emit("on_message", text)

    def _record(self, event: str, **values: Any) -> dict[str, Any]:
        p = self.progress
        return {
            "event": event,
            "step": p.step,
            "epoch": p.epoch + p.window / self.layout.windows_per_epoch,
            "chars_seen": p.chars_seen,
            "seconds": round(p.seconds, 3),
            **values,
        }

    # -- checkpoints -----------------------------------------------------------------------
    def _gathered_state(self) -> State | None:
        """The global batch's carried state (collective: every rank calls it)."""
        return distributed.gather_streams(self.world, self.carried) if self.carried is not None else None

    def _save(self, best: bool, carried: State | None) -> None:
        payload = checkpoint_payload(
            self.model,
            self.optimizer,
            self.config,
            self.precision,
            self.progress,
            carried,
            self.history,
            self.corpus,
            self.plan,
        )
        save_checkpoint(payload, last_checkpoint_path(self.checkpoint_dir))
        if best:
            save_checkpoint(payload, self.checkpoint_dir / "best.pt")

    def _evaluate(self, stop: StopRequest) -> bool:
        """Validate, sample and save (rank 0; the others wait); False if a stop request cut the
        validation short."""
        carried = self._gathered_state()
        if not self.world.is_main:  # rank 0 validates, samples and saves meanwhile
            (interrupted,) = self.end.agree([0.0])
            return not interrupted
        try:
            report = stream_loss(
                self.model,
                self.val_ids,
                self.device,
                self.precision,
                streams=self.config.val_streams,
                should_stop=lambda: stop.requested,
            )
        except EvaluationInterrupted:
            self.end.agree([1.0])
            return False
        val_loss = report.nats_per_char
        self.end.check_validation(self.progress.step, val_loss)
        improved = val_loss < self.progress.best_val_loss
        if improved:
            self.progress.best_val_loss = val_loss
        record = self._record(
            "val",
            val_loss=val_loss,
            val_bpc=report.bits_per_char,
            val_perplexity=report.perplexity,
            val_chars=report.num_predicted,
            val_streams=self.config.val_streams,
            best=improved,
        )
        self.history.append(record)
        sample = ""
        if self.config.sample_chars:
            prime = self.vocab.decode(self.val_ids[:1])
            sample = prime + sample_text(
                self.model,
                self.vocab,
                prime,
                self.config.sample_chars,
                temperature=0.8,
                seed=self.config.seed + self.progress.step,
            )
        self._save(best=improved, carried=carried)
        self.end.agree([0.0])
        self._emit("on_eval", record, sample)
        return True

    # -- the plan ------------------------------------------------------------------------
    def _seconds_per_validation(self) -> float:
        """One validation pass's cost, from timing it on a prefix of the validation text."""
        probe = self.val_ids[: PLAN_PROBE_CHARS + 1]
        started = self.clock()
        stream_loss(
            self.model,
            probe,
            self.device,
            self.precision,
            streams=min(self.config.val_streams, len(probe) - 1),
        )
        synchronize(self.device)
        return (self.clock() - started) * (len(self.val_ids) - 1) / (len(probe) - 1)

    def _proposal(self, meter: SpeedMeter) -> StepPlan | None:
        """Rank 0's settled plan, once the first steps have been measured; else None."""
        p = self.progress
        if self.plan.settled or not self.world.is_main or self.budget_seconds is None:
            return None
        if not meter.ready(p.step, self.config.warmup_steps):
            return None
        return fit_to_budget(
            self.plan,  # unsettled: the steps asked for
            step=p.step,
            seconds_spent=p.seconds,
            budget_seconds=self.budget_seconds,
            seconds_per_step=meter.seconds_per_step,
            seconds_per_validation=self._seconds_per_validation(),
            eval_every=self.config.eval_every,
            chars_per_step=self.config.batch_size * self.config.seq_len,
        )

    def _settle(self, plan: StepPlan) -> None:
        self.plan = plan
        self.tell(describe(plan, self.layout.windows_per_epoch, self.config.max_minutes))
        self._emit("on_plan", self._record("plan", **plan.to_dict()))

    # -- the loop --------------------------------------------------------------------------
    def _train_step(self, lr: float) -> torch.Tensor:
        """One window of truncated BPTT: forward from the carried state, the cross-entropy summed
        over every time step, backward, clip, step, then carry the state on, detached."""
        p = self.progress
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        inputs_np, targets_np = self.layout.window(p.window)
        inputs = ids_to_device(inputs_np[self.rows], self.device)  # (b, T): this rank's streams
        targets = ids_to_device(targets_np[self.rows], self.device)  # (b, T)
        with autocast(self.device, self.precision):
            logits, state = self.trained(inputs, self.carried)  # (b, T, V)
        # Every time step of every stream contributes; dividing the sum by the character
        # count keeps --lr and --grad-clip independent of --batch-size and --seq-len.
        loss_sum = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="sum")
        loss = loss_sum / targets.numel()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        # fp32 whatever the autocast precision: the state carried, and checkpointed, is the same
        # whether or not the run was interrupted in between.
        self.carried = tuple(t.float() for t in detach_state(state))
        self.guard.observe(p.step + 1, loss, grad_norm)
        p.step += 1
        p.chars_seen += targets.numel() * self.world.size
        p.window += 1
        if p.window == self.layout.windows_per_epoch:
            p.epoch, p.window = p.epoch + 1, 0
        return loss.detach()

    def _log(self, interval: _Interval, lr: float) -> None:
        """Report the steps since the last log line (this reads the device), and start anew."""
        self.end.check_diverged()
        elapsed = self.clock() - interval.start
        train_loss = float(distributed.mean(self.world, interval.loss)) / interval.steps
        self._emit(
            "on_log",
            self._record(
                "train",
                train_loss=train_loss,
                train_bpc=train_loss / LN2,
                lr=lr,
                chars_per_sec=interval.chars / max(elapsed, 1e-9),
                total_steps=self.plan.total_steps,
            ),
        )
        interval.loss.zero_()
        interval.steps, interval.chars, interval.start = 0, 0, self.clock()

    def run(self, stop: StopRequest) -> TrainResult:
        cfg, p, layout = self.config, self.progress, self.layout
        self._emit(
            "on_start",
            RunInfo(
                corpus_path=cfg.corpus,
                checkpoint_dir=str(self.checkpoint_dir),
                device=str(self.device),
                precision=self.precision,
                threads=self.threads,
                vocab_size=self.vocab.size,
                num_parameters=count_parameters(self.model),
                train_chars=len(self.train_ids),
                val_chars=len(self.val_ids),
                windows_per_epoch=layout.windows_per_epoch,
                total_steps=self.plan.total_steps,
                start_step=p.step,
                resumed=p.step > 0,
            ),
        )
        if self.plan.settled:
            self.tell(describe(self.plan, layout.windows_per_epoch, cfg.max_minutes))
        if p.step >= self.plan.total_steps:
            self.tell(
                f"the run is complete (step {p.step:,} of its {self.plan.total_steps:,}-step plan): "
                "to extend it, resume with a larger --max-steps, --epochs or --max-minutes"
            )
        started = self.clock()
        seconds_before = p.seconds
        meter, previous, validation_seconds = SpeedMeter(), None, 0.0
        last_eval_step = self.history[-1]["step"] if self.history else -1
        interval = _Interval(torch.zeros((), device=self.device), started)
        self.model.train()
        while True:
            if not self.plan.settled:  # measuring: the clock must see the device's work done
                synchronize(self.device)
            now = self.clock()
            p.seconds = seconds_before + now - started
            if previous is not None and not self.plan.settled:
                meter.add(now - previous - validation_seconds)  # the whole last step, logging included
            previous, validation_seconds = now, 0.0
            agreed = self.end.agree_step(p.step, p.seconds, stop, self._proposal(meter))
            if agreed.settled_plan is not None:
                self._settle(agreed.settled_plan)
            reason = self.end.stop_reason(p.step, self.plan, agreed)
            if reason is not None:
                break
            if p.window == 0:
                self.carried = None  # each epoch starts from a zero state
            lr = learning_rate(p.step, cfg.lr, cfg.warmup_steps, self.plan.total_steps, cfg.min_lr_frac)
            chars_before = p.chars_seen
            interval.loss += self._train_step(lr)
            interval.steps += 1
            interval.chars += p.chars_seen - chars_before
            p.seconds = seconds_before + self.clock() - started
            if p.step % cfg.log_every == 0:
                self._log(interval, lr)
            if p.step % cfg.eval_every == 0:
                validation_started = self.clock()
                self.end.check_diverged()
                self._evaluate(stop)  # if cut short, the loop's next check stops and saves
                last_eval_step = p.step
                interval.start = self.clock()
                validation_seconds = interval.start - validation_started
        self.end.check_diverged()
        if reason != "interrupted" and last_eval_step != p.step and not self._evaluate(stop):
            reason = "interrupted"
        p.seconds = seconds_before + self.clock() - started
        if reason == "interrupted":
            carried = self._gathered_state()
            if self.world.is_main:
                self._save(best=False, carried=carried)  # fast: a signal asks to stop within seconds
                self.tell(f"interrupted at step {p.step}: saved {last_checkpoint_path(self.checkpoint_dir)}")
        last_val = self.history[-1]["val_loss"] if self.history else None
        best_val = p.best_val_loss if math.isfinite(p.best_val_loss) else None
        return TrainResult(
            stop_reason=reason,
            step=p.step,
            epoch=p.epoch,
            chars_seen=p.chars_seen,
            seconds=p.seconds,
            last_val_loss=last_val,
            best_val_loss=best_val,
            checkpoint_dir=str(self.checkpoint_dir),
            exit_code=stop.exit_code if reason == "interrupted" else 0,
        )


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
    check_start_options(resume, init_from)
    run = _Run(config, observers, resume=resume, init_from=init_from, force=force, clock=clock)
    world = run.world
    try:
        lock = (
            lock_checkpoint_dir(run.checkpoint_dir, force=force, warn=run.tell)
            if world.is_main  # rank 0 alone writes the directory; it holds it for all ranks
            else contextlib.nullcontext()
        )
        with lock, stop_on_signals(stop or StopRequest()) as request:
            if world.is_main:
                run.prepare_directory()
            distributed.barrier(world)
            return run.run(request)
    finally:
        distributed.stop(world)
