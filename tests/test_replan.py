"""A budget-sized plan follows the machine: re-settled at the validations while the schedule
allows, so that a run whose speed doubles or halves mid-way still ends its decay at its budget;
every plan is recorded, resume continues them, and the last one's --max-steps repeats the run.

The clock is fake: it moves only when a step is logged (every step here), by the seconds a step
takes at the machine's current speed, so these runs are deterministic and take no real time."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from conftest import last_checkpoint
from test_reproducible import SignalAt, assert_same_bytes

from charrnn.train.budget import REPLAN_TOLERANCE
from charrnn.train.loop import train
from charrnn.train.metrics_log import read_metrics
from charrnn.train.observers import StepsLogged, TrainObserver
from charrnn.train.run_config import config_for_resume

BUDGET_MINUTES = 2.0
RUN = {
    "epochs": None,
    "max_steps": None,
    "max_minutes": BUDGET_MINUTES,
    "eval_every": 10,
    "log_every": 1,
    "warmup_steps": 5,
    "decay_frac": 0.35,
}


class StepClock(TrainObserver):
    """A clock that a logged step moves on by `seconds_per_step(step)`, and nothing else."""

    def __init__(self, seconds_per_step) -> None:
        self.now, self.seconds_per_step = 0.0, seconds_per_step

    def __call__(self) -> float:
        return self.now

    def on_log(self, event: StepsLogged) -> None:
        self.now += self.seconds_per_step(event.step)


def _plans(checkpoint_dir: Path) -> list[dict]:
    return [r for r in read_metrics(checkpoint_dir / "metrics.jsonl") if r["event"] == "plan"]


@pytest.mark.parametrize("eval_every", [10, 1000])  # 1000: no validation before the last
@pytest.mark.parametrize(("after", "name"), [(0.5, "twice as fast"), (2.0, "half as fast")])
@pytest.mark.parametrize(
    "change_at",
    [
        30,  # a quarter of the budget
        pytest.param(
            58,  # half the budget: not yet (issue 24 stays open on it)
            marks=pytest.mark.xfail(
                strict=True,
                reason="a speed-up is planned on after three stretches, by when the decay has begun; a "
                "slow-down this late fits not even the shortest plan, so the clock cuts the run",
            ),
        ),
    ],
)
def test_a_run_whose_speed_changes_mid_way_still_ends_at_its_budget_with_the_rate_at_its_floor(
    make_config, tmp_path, after, name, eval_every, change_at
):
    clock = StepClock(lambda step: 1.0 if step <= change_at else after)
    config = make_config(**{**RUN, "eval_every": eval_every})
    result = train(config, [clock], clock=clock)
    budget = BUDGET_MINUTES * 60
    plans = _plans(Path(config.checkpoint_dir))
    first, last = plans[0], plans[-1]
    assert len(plans) >= 2, name  # settled, then re-settled after the speed changed
    assert first["step"] <= 15 and first["total_steps"] == pytest.approx(0.97 * budget / 1.0, abs=4)
    assert (last["total_steps"] > first["total_steps"]) == (after < 1.0)
    assert result.stop_reason == "max_minutes" and result.step == last["total_steps"]
    assert 0.95 * budget <= result.seconds <= budget, name  # the budget used, not more
    logs = [r for r in read_metrics(Path(config.checkpoint_dir) / "metrics.jsonl") if r["event"] == "train"]
    assert logs[-1]["lr"] == pytest.approx(config.lr * config.min_lr_frac)  # the decay ended


def test_the_plan_stops_changing_once_its_decay_has_begun(make_config):
    clock = StepClock(lambda step: 1.0 if step <= 80 else 3.0)  # slower only after the decay began
    config = make_config(**RUN)
    result = train(config, [clock], clock=clock)
    plans = _plans(Path(config.checkpoint_dir))
    schedule = config.schedule
    assert all(p["step"] - 1 <= schedule.decay_start(p["total_steps"]) for p in plans)
    assert plans[-1]["step"] < 80  # no plan after the slow-down: it came too late to change one
    assert result.stop_reason == "max_minutes" and result.step < plans[-1]["total_steps"]  # the clock cut it
    assert result.seconds <= BUDGET_MINUTES * 60


def test_a_slow_down_that_not_even_the_shortest_plan_fits_still_brings_the_floor_nearer(make_config):
    """Halved speed at step 60 of a 116-step plan whose decay starts at 75: the shortest plan that
    keeps the rates taken (96 steps) no longer fits, and the clock cuts the run either way, but
    in the shorter plan the cut comes much nearer the floor than in the first one."""
    clock = StepClock(lambda step: 1.0 if step <= 60 else 2.0)
    config = make_config(**RUN)
    result = train(config, [clock], clock=clock)
    plans = _plans(Path(config.checkpoint_dir))
    schedule = config.schedule
    first, last = plans[0], plans[-1]
    assert last["step"] > 60 and last["total_steps"] < first["total_steps"]  # re-settled, shorter
    assert last["total_steps"] == schedule.shortest_plan_from(last["step"])
    assert result.stop_reason == "max_minutes" and result.step < last["total_steps"]  # cut...
    assert result.seconds <= BUDGET_MINUTES * 60
    logs = [r for r in read_metrics(Path(config.checkpoint_dir) / "metrics.jsonl") if r["event"] == "train"]
    old_plan_lr = schedule.rate(logs[-1]["step"] - 1, first["total_steps"])
    assert logs[-1]["lr"] < 0.5 * old_plan_lr  # ...nearer its floor than the first plan would be


def test_a_plan_near_the_current_one_is_not_adopted(make_config):
    clock = StepClock(lambda step: 1.0 + 0.2 * REPLAN_TOLERANCE * (step > 30))
    config = make_config(**RUN)
    train(config, [clock], clock=clock)
    assert len(_plans(Path(config.checkpoint_dir))) == 1


def test_every_plan_is_recorded_and_the_last_one_repeats_the_run_bit_for_bit(make_config, tmp_path):
    clock = StepClock(lambda step: 1.0 if step <= 30 else 0.5)
    config = make_config(**RUN, checkpoint_dir=tmp_path / "budget")
    train(config, [clock], clock=clock)
    plans = _plans(tmp_path / "budget")
    saved = last_checkpoint(tmp_path / "budget").training
    assert [(p.measured_at_step, p.total_steps) for p in saved.plans] == [
        (r["measured_at_step"], r["total_steps"]) for r in plans
    ]
    assert len(saved.plans) >= 2 and saved.plan == saved.plans[-1]
    repeat = make_config(
        **{**RUN, "max_minutes": None, "max_steps": plans[-1]["total_steps"]},
        checkpoint_dir=tmp_path / "again",
    )
    train(repeat)
    assert_same_bytes(tmp_path / "budget", tmp_path / "again")


def test_a_resumed_run_continues_its_plans_and_ends_as_the_run_never_interrupted(make_config, tmp_path):
    speed = lambda step: 1.0 if step <= 30 else 0.5  # noqa: E731
    whole_clock = StepClock(speed)
    train(make_config(**RUN, checkpoint_dir=tmp_path / "whole"), [whole_clock], clock=whole_clock)
    split_clock = StepClock(speed)
    split = make_config(**RUN, checkpoint_dir=tmp_path / "split")
    stopped = train(split, [split_clock, SignalAt(45, signal.SIGINT)], clock=split_clock)
    assert stopped.stop_reason == "interrupted"
    before = last_checkpoint(tmp_path / "split").training.plans
    resumed_clock = StepClock(speed)
    resumed_clock.now = 0.0  # the resumed invocation's own clock: the run's seconds carry on
    train(config_for_resume(tmp_path / "split", {}), [resumed_clock], resume=True, clock=resumed_clock)
    after = last_checkpoint(tmp_path / "split").training.plans
    assert after[: len(before)] == before  # the recorded plans continue
    whole = last_checkpoint(tmp_path / "whole").training
    assert after[-1].total_steps == whole.plan.total_steps
    assert_same_bytes(tmp_path / "whole", tmp_path / "split")


def test_a_re_settled_plan_keeps_the_first_plan_s_validation_cadence(make_config):
    clock = StepClock(lambda step: 1.0 if step <= 30 else 0.5)
    config = make_config(**{**RUN, "eval_every": None})
    train(config, [clock], clock=clock)
    plans = _plans(Path(config.checkpoint_dir))
    assert len(plans) >= 2 and len({p["eval_every"] for p in plans}) == 1
