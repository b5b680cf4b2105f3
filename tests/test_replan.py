"""A budget-sized plan follows the machine: re-settled at the validations while the schedule
allows, so that a run whose speed doubles or halves mid-way still ends its decay at its budget;
every plan is recorded, resume continues them, and the last one's --max-steps repeats the run.

The clock is fake: it moves only when a step is logged (every step here), by the seconds a step
takes at the machine's current speed, so these runs are deterministic and take no real time."""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest
from conftest import invoke, last_checkpoint
from test_reproducible import SignalAt, assert_same_bytes

from charrnn.errors import CheckpointError, ConfigError
from charrnn.train.budget import REPLAN_TOLERANCE
from charrnn.train.loop import train
from charrnn.train.metrics_log import read_metrics
from charrnn.train.observers import StepsLogged, TrainObserver
from charrnn.train.run_config import config_for_replay, config_for_resume

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
# a quarter of the budget; half of it; inside the decay (which starts at 65% of the plan)
@pytest.mark.parametrize("change_at", [30, 58, 85])
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


def test_a_slow_down_inside_the_decay_is_followed_the_decay_going_on_from_where_it_was(make_config):
    clock = StepClock(lambda step: 1.0 if step <= 85 else 3.0)  # slower only after the decay began
    config = make_config(**RUN)
    result = train(config, [clock], clock=clock)
    plans = _plans(Path(config.checkpoint_dir))
    first, last = plans[0], plans[-1]
    assert first["decay_from"] is None and config.schedule.decay_start(first["total_steps"]) < 85
    assert last["step"] > 85 and last["decay_from"] is not None and 0 < last["decay_progress"] < 1
    assert last["total_steps"] < first["total_steps"]
    assert result.stop_reason == "max_minutes" and result.step == last["total_steps"]
    assert 0.95 * BUDGET_MINUTES * 60 <= result.seconds <= BUDGET_MINUTES * 60
    logs = [r for r in read_metrics(Path(config.checkpoint_dir) / "metrics.jsonl") if r["event"] == "train"]
    assert logs[-1]["lr"] == pytest.approx(config.lr * config.min_lr_frac)  # the floor, at the end
    rates = [r["lr"] for r in logs if r["step"] > config.warmup_steps]
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))  # down all the way, no jump up


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_run_on_a_machine_whose_speed_wanders_by_30_percent_uses_its_budget_and_ends_at_the_floor(
    make_config, seed
):
    wander = random.Random(seed)
    factors = [wander.uniform(0.7, 1.3) for _ in range(1000)]
    clock = StepClock(lambda step: factors[step // 8])  # a new speed every 8 steps
    config = make_config(**RUN)
    result = train(config, [clock], clock=clock)
    budget = BUDGET_MINUTES * 60
    assert 0.95 * budget <= result.seconds <= 1.05 * budget
    logs = [r for r in read_metrics(Path(config.checkpoint_dir) / "metrics.jsonl") if r["event"] == "train"]
    assert logs[-1]["step"] == result.step
    assert logs[-1]["lr"] == pytest.approx(config.lr * config.min_lr_frac)


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


def _budget_run_resettled_in_its_decay(make_config, directory: Path):
    clock = StepClock(lambda step: 1.0 if step <= 85 else 1.6)
    train(make_config(**RUN, checkpoint_dir=directory), [clock], clock=clock)
    plans = last_checkpoint(directory).training.plans
    assert plans[-1].decay_from is not None  # the case --max-steps alone cannot repeat
    return plans


def test_a_run_re_settled_inside_its_decay_is_repeated_bit_for_bit_by_replay_and_not_by_max_steps(
    make_config, tmp_path
):
    plans = _budget_run_resettled_in_its_decay(make_config, tmp_path / "budget")
    config, recorded = config_for_replay(tmp_path / "budget", {"checkpoint_dir": str(tmp_path / "replay")})
    assert recorded == plans and config.max_minutes is None
    train(config, replay=recorded)
    assert_same_bytes(tmp_path / "budget", tmp_path / "replay")
    assert last_checkpoint(tmp_path / "replay").training.plans == plans  # its record is the same plans
    by_steps = make_config(
        **{**RUN, "max_minutes": None, "max_steps": plans[-1].total_steps}, checkpoint_dir=tmp_path / "steps"
    )
    train(by_steps)
    with pytest.raises(AssertionError):
        assert_same_bytes(tmp_path / "budget", tmp_path / "steps")


def test_a_replay_interrupted_and_resumed_ends_as_the_replayed_run(make_config, tmp_path):
    _budget_run_resettled_in_its_decay(make_config, tmp_path / "budget")
    config, recorded = config_for_replay(tmp_path / "budget", {"checkpoint_dir": str(tmp_path / "replay")})
    stopped = train(config, [SignalAt(60, signal.SIGINT)], replay=recorded)
    assert stopped.stop_reason == "interrupted"
    assert last_checkpoint(tmp_path / "replay").training.replaying  # plans still to come, saved
    train(config_for_resume(tmp_path / "replay", {}), resume=True)
    assert_same_bytes(tmp_path / "budget", tmp_path / "replay")


def test_replay_refuses_options_that_would_make_it_another_run(make_config, tmp_path):
    _budget_run_resettled_in_its_decay(make_config, tmp_path / "budget")
    with pytest.raises(ConfigError, match="^--hidden cannot be given with --replay"):
        config_for_replay(tmp_path / "budget", {"hidden_size": 99})
    with pytest.raises(CheckpointError, match="not found"):
        config_for_replay(tmp_path / "nothing", {})


def test_charrnn_train_replay_repeats_the_run_and_says_so(make_config, tmp_path):
    _budget_run_resettled_in_its_decay(make_config, tmp_path / "budget")
    result = invoke(
        "train", "--replay", str(tmp_path / "budget"), "--checkpoint-dir", str(tmp_path / "again")
    )
    assert result.exit_code == 0, result.stderr
    assert "as the replayed run settled it" in result.stderr
    assert_same_bytes(tmp_path / "budget", tmp_path / "again")


@pytest.mark.parametrize(("exact_seconds", "segments"), [(1.0, 1), (10.0, 16)])
def test_the_last_validation_is_exact_unless_that_would_cost_more_than_a_few_percent_of_the_budget(
    make_config, monkeypatch, exact_seconds, segments
):
    """The budget is 120 s: an exact pass priced at 10 s (8%) is made 16 warmed segments."""
    import charrnn.train.budget as budget_module

    prices = lambda run, clock, k: exact_seconds if k == 1 else 0.5  # noqa: E731
    monkeypatch.setattr(budget_module, "seconds_per_validation", prices)
    clock = StepClock(lambda step: 1.0)
    config = make_config(**RUN)
    train(config, [clock], clock=clock)
    records = read_metrics(Path(config.checkpoint_dir) / "metrics.jsonl")
    assert {r["last_val_segments"] for r in records if r["event"] == "plan"} == {segments}
    assert [r for r in records if r["event"] == "val"][-1]["val_segments"] == segments
    saved = last_checkpoint(config.checkpoint_dir).training
    assert saved.plan.last_val_segments == segments and saved.history[-1].val_segments == segments
