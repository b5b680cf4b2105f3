"""The default run is sized by its time budget: it trains until the budget is spent (however many
epochs that is), its schedule reaches the floor at the end, it validates about once a minute, and
a log file shows its progress as it goes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from conftest import Recorder, last_checkpoint
from rich.console import Console

from charrnn.cli.progress import PLAIN_SECONDS, ProgressDisplay
from charrnn.errors import ConfigError
from charrnn.model.records import StepPlan
from charrnn.train.config import TrainConfig
from charrnn.train.loop import train
from charrnn.train.metrics_log import read_metrics
from charrnn.train.observers import PlanSettled, RunStarted, StepsLogged, Validated
from charrnn.train.run_config import config_for_resume


class Clock:
    """A fake clock: every reading is `tick` seconds after the previous one."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_the_default_run_has_no_epoch_limit_and_validates_at_a_measured_cadence():
    defaults = TrainConfig(corpus="c.txt")
    assert defaults.epochs is None and defaults.max_steps is None and defaults.max_minutes is not None
    assert defaults.eval_every is None


def test_a_run_with_nothing_to_end_it_is_refused():
    with pytest.raises(ConfigError, match="nothing would end this run"):
        TrainConfig(corpus="c.txt", max_minutes=None)
    TrainConfig(corpus="c.txt", max_minutes=None, epochs=1)  # any one limit will do


def test_a_budget_sized_run_spends_its_budget_over_many_epochs_and_ends_at_the_floor(make_config):
    # The tiny corpus has 9 windows an epoch; 5 minutes of a clock that ticks 0.3 s at each
    # reading (a few readings a step) buy about 200 steps, and a validation every 40-odd.
    config = make_config(
        epochs=None, max_steps=None, max_minutes=5.0, eval_every=None, log_every=1, warmup_steps=20
    )
    result = train(config, clock=Clock(0.3))
    records = read_metrics(Path(config.checkpoint_dir) / "metrics.jsonl")
    plans = [r for r in records if r["event"] == "plan"]  # settled, maybe re-settled
    plan = plans[-1]
    assert plan["limited_by"] == "max_minutes" and result.step == plan["total_steps"]
    assert result.epochs_done >= 10  # no epoch limit stopped it (the old default stopped at 5)
    train_records = [r for r in records if r["event"] == "train"]
    assert train_records[-1]["lr"] == pytest.approx(config.lr * config.min_lr_frac)
    # before the plan settled, no step count was claimed
    assert all(r["total_steps"] in (None, *(p["total_steps"] for p in plans)) for r in train_records)
    validations = [r["step"] for r in records if r["event"] == "val"]
    cadence = plan["eval_every"]
    assert cadence >= 1
    assert validations == [
        *range(cadence, result.step + 1, cadence),
        *([result.step] * (result.step % cadence != 0)),
    ]


def test_the_measured_cadence_is_kept_in_the_checkpoint_and_reused_on_resume(make_config):
    config = make_config(epochs=None, max_steps=40, max_minutes=None, eval_every=None)
    train(config, clock=Clock(1.0))  # 3 clock readings a step: 60 s is about 20 steps
    saved = last_checkpoint(config.checkpoint_dir).training
    assert saved is not None and saved.plan is not None
    assert saved.plan.settled and saved.plan.total_steps == 40 and saved.plan.limited_by == "max_steps"
    cadence = saved.plan.eval_every
    assert cadence is not None and 5 <= cadence <= 40
    extended = config_for_resume(Path(config.checkpoint_dir), {"max_steps": 60})
    train(extended, resume=True, clock=Clock(100.0))  # a new plan, a new measurement...
    replanned = last_checkpoint(config.checkpoint_dir).training
    assert replanned is not None and replanned.plan is not None
    # measured anew at the slower clock: every 5 steps from step 40 (the old cadence was 30)
    assert cadence == 30 and replanned.plan.eval_every == 5
    assert [v.step for v in replanned.history] == [30, 40, 45, 50, 55, 60]
    again = config_for_resume(Path(config.checkpoint_dir), {"eval_every": 7, "max_steps": 74})
    train(again, resume=True, clock=Clock(100.0))  # ...and an explicit --eval-every wins on resume
    history = last_checkpoint(config.checkpoint_dir).training.history
    assert [v.step for v in history if v.step > 60] == [63, 70, 74]


def test_how_often_a_run_validates_does_not_change_what_it_learns(make_config, tmp_path):
    often = make_config(checkpoint_dir=str(tmp_path / "often"), eval_every=2, dropout=0.2, sample_chars=5)
    rarely = make_config(checkpoint_dir=str(tmp_path / "rarely"), eval_every=1000, dropout=0.2)
    train(often)
    train(rarely)
    a, b = last_checkpoint(tmp_path / "often"), last_checkpoint(tmp_path / "rarely")
    assert len(a.training.history) > len(b.training.history)
    for name, tensor in a.weights.items():
        assert torch.equal(tensor, b.weights[name]), name


def _started(total_steps: int | None) -> RunStarted:
    return RunStarted("c.txt", "ck", "cpu", "fp32", 2, 65, 1000, 9000, 1000, 9, total_steps, 0, False)


def _logged(step: int, total_steps: int | None) -> StepsLogged:
    return StepsLogged(step, step / 9, step * 3200, step * 0.5, 2.0, 2.885, 1e-3, 6400.0, total_steps)


def test_away_from_a_terminal_the_display_prints_a_plain_line_every_20_seconds():
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False)  # 80 columns, as rich takes a log file
    clock = Clock(0.0)
    display = ProgressDisplay(console, clock=clock)
    display.on_start(_started(None))
    for step in range(1, 101):  # a log event every 2 s: 200 s
        clock.now += 2.0
        display.on_log(_logged(step, None if step < 10 else 400))
        if step == 10:
            display.on_plan(
                PlanSettled(10, 1.1, 32000, 5.0, StepPlan(400, "max_minutes", True, 6400.0, 10, 50))
            )
    display.close()
    lines = [line for line in stream.getvalue().splitlines() if line.startswith("step ")]
    assert len(lines) == 200 // PLAIN_SECONDS
    assert lines[0].startswith("step 10/400 · epoch 1.11 · train 2.885 bpc · val – bpc · 6,400 chars/s")
    assert "ETA" in lines[0]
    assert "\x1b" not in stream.getvalue()  # no terminal control codes in a log file
    assert all(line.startswith(("step ", "training ", "plan")) for line in stream.getvalue().splitlines())


class _Jumps(Recorder):
    """A Recorder that moves `clock` 10,000 s on after the validation at step `after_validation`
    or the log at step `after_log` (the machine stalled), and keeps the messages."""

    def __init__(self, clock: Clock, after_validation: int = -1, after_log: int = -1) -> None:
        super().__init__()
        self.clock, self.after_validation, self.after_log = clock, after_validation, after_log
        self.messages: list[str] = []

    def on_validation(self, event: Validated) -> None:
        super().on_validation(event)
        if event.validation.step == self.after_validation:
            self.clock.now += 10_000

    def on_log(self, event: StepsLogged) -> None:
        super().on_log(event)
        if event.step == self.after_log:
            self.clock.now += 10_000

    def on_message(self, text: str) -> None:
        self.messages.append(text)


def test_a_run_the_clock_cuts_after_a_segmented_validation_still_ends_with_an_exact_one(make_config):
    clock = Clock(0.01)
    jumps = _Jumps(clock, after_validation=6)
    # decay_frac 1: the plan is needed, so settled, by the end of warm-up, before the clock jumps
    config = make_config(epochs=100, max_steps=None, max_minutes=5.0, eval_every=2, decay_frac=1.0)
    result = train(config, [jumps], clock=clock)
    assert (result.stop_reason, result.step) == ("max_minutes", 6)
    assert [(v.validation.step, v.validation.val_segments) for v in jumps.validations] == [
        (2, 16),
        (4, 16),
        (6, 16),
        (6, 1),
    ]
    assert last_checkpoint(Path(config.checkpoint_dir)).training.history[-1].val_segments == 1
    (cut,) = [m for m in jumps.messages if "budget ran out" in m]
    assert cut.startswith("the time budget ran out at step 6, ")


def test_a_run_the_clock_cuts_before_its_plan_is_made_does_not_say_the_plan_ran_late(make_config):
    clock = Clock(0.01)
    jumps = _Jumps(clock, after_log=1)
    config = make_config(epochs=None, max_steps=None, max_minutes=5.0, eval_every=None, warmup_steps=50)
    result = train(config, [jumps], clock=clock)
    assert (result.stop_reason, result.step) == ("max_minutes", 1)
    assert not [m for m in jumps.messages if "budget ran out" in m]
