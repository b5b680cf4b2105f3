"""The step plan and the learning-rate schedule, as pure functions of their inputs."""

import math

import pytest

from charrnn.model.records import StepPlan
from charrnn.train.plan import SAFETY, UNLIMITED, settle, steps_asked_for, validation_interval
from charrnn.train.schedule import Schedule


def test_the_schedule_warms_up_then_decays_by_cosine_to_the_floor_at_the_last_step():
    schedule = Schedule(peak_lr=1.0, warmup_steps=10, min_lr_frac=0.1)  # decay_frac 1: from the peak
    rates = [schedule.rate(s, 110) for s in range(110)]
    assert rates[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert rates[10] == 1.0  # the peak, whatever the plan
    assert rates[60] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 50 / 99)))
    assert rates[109] == pytest.approx(0.1)  # the plan's last step takes the floor
    assert all(a >= b for a, b in zip(rates[10:], rates[11:], strict=False))
    assert schedule.rate(500, 110) == pytest.approx(0.1)  # past the plan: the floor


def test_before_its_decay_the_rate_is_the_same_whatever_the_plan_and_it_decays_to_the_floor():
    schedule = Schedule(peak_lr=1.0, warmup_steps=10, min_lr_frac=0.1, decay_frac=0.4)
    assert schedule.decay_start(1000) == 600
    short, long = [schedule.rate(s, 1000) for s in range(1000)], [schedule.rate(s, 3000) for s in range(3000)]
    assert short[:601] == long[:601]  # warm-up, then the peak: nothing before the decay knows the plan
    assert short[601] < 1.0 and long[601] == 1.0
    assert short[999] == pytest.approx(0.1) and long[2999] == pytest.approx(0.1)
    assert short[800] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 200 / 399)))
    assert all(a >= b for a, b in zip(short[10:], short[11:], strict=False))


@pytest.mark.parametrize("decay_frac", [0.3, 0.5, 0.75, 0.99])
def test_the_shortest_plan_settled_at_a_step_starts_its_decay_there_or_later(decay_frac):
    schedule = Schedule(peak_lr=1.0, warmup_steps=20, min_lr_frac=0.1, decay_frac=decay_frac)
    for step in (0, 5, 20, 21, 57, 400, 1001):
        shortest = schedule.shortest_plan_from(step)
        assert shortest is not None and shortest >= step
        assert schedule.decay_start(shortest) >= step - 1  # steps 0 .. step - 1 keep their rates
        rates = [schedule.rate(s, shortest) for s in range(step)]
        assert rates == [schedule.rate(s, 10**6) for s in range(step)]
        assert shortest == step or schedule.decay_start(shortest - 1) < step - 1  # and no shorter one


def test_a_plan_that_decays_from_the_peak_cannot_be_settled_after_warm_up():
    schedule = Schedule(peak_lr=1.0, warmup_steps=20, min_lr_frac=0.1, decay_frac=1.0)
    assert schedule.shortest_plan_from(21) == 21  # steps 0-19 warm up, step 20 takes the peak
    assert schedule.shortest_plan_from(22) is None
    assert schedule.plan_may_change(21, 100) and not schedule.plan_may_change(22, 100)


ASKED = StepPlan(total_steps=1000, limited_by="epochs", settled=False)


def _fit(
    seconds_per_step: float,
    seconds_per_validation: float = 0.0,
    spent: float = 10.0,
    asked: StepPlan = ASKED,
    budget: float | None = 100.0,
    eval_every: int | None = 100,
    seconds_per_last_validation: float | None = None,
    shortest: int | None = None,
) -> StepPlan:
    return settle(
        asked,
        step=20,
        seconds_spent=spent,
        budget_seconds=budget,
        seconds_per_step=seconds_per_step,
        seconds_per_validation=seconds_per_validation,
        eval_every=eval_every,
        chars_per_step=3200,
        seconds_per_last_validation=seconds_per_last_validation,
        shortest=shortest,
    )


def test_steps_that_fit_the_budget_keep_the_plan_asked_for():
    plan = _fit(0.05)  # 980 more steps take 49 s of the 90 s left
    assert (plan.total_steps, plan.limited_by, plan.settled) == (1000, "epochs", True)
    assert plan.chars_per_sec == pytest.approx(64_000) and plan.measured_at_step == 20


def test_a_budget_too_short_becomes_the_largest_plan_that_fits_it():
    plan = _fit(0.2)  # 0.97 x 100 s less the 10 s spent, at 0.2 s a step: 435 more steps
    assert SAFETY == 0.97
    assert (plan.total_steps, plan.limited_by) == (20 + 435, "max_minutes")
    # validations are paid for from the budget: the 87 s left hold 385 steps (77 s) and the
    # 5 validations at 100, 200, 300, 400 and the end (10 s); a 386th step would not fit
    with_validations = _fit(0.2, seconds_per_validation=2.0)
    assert with_validations.total_steps == 405
    assert _fit(0.2, spent=100.0).total_steps == 20  # nothing left: stop now


def test_a_plan_is_never_shorter_than_the_schedule_allows():
    assert _fit(0.2, shortest=700).total_steps == 700  # 0.2 s x 680 steps do not fit: the clock cuts it
    assert _fit(0.2, shortest=300).total_steps == 20 + 435  # what fits, where it is longer
    assert _fit(0.2, shortest=5000).total_steps == 1000  # never more than asked for


def test_the_last_validation_is_priced_at_its_own_cost():
    """The validations before the last are cheap (segments side by side), the last is exact: 87 s
    hold 10 s for the last one and 385 steps (77 s) with their 4 cheap validations (0 s)."""
    asked = steps_asked_for(windows_per_epoch=300, epochs=None, max_steps=None)
    plan = _fit(0.2, asked=asked, seconds_per_last_validation=10.0)
    assert plan.total_steps == 20 + 385


def test_without_epochs_or_max_steps_the_budget_alone_sizes_the_run():
    asked = steps_asked_for(windows_per_epoch=300, epochs=None, max_steps=None)
    assert (asked.total_steps, asked.limited_by) == (UNLIMITED, "max_minutes")
    plan = _fit(0.2, asked=asked)  # the whole budget is used, however many epochs it buys
    assert (plan.total_steps, plan.limited_by) == (20 + 435, "max_minutes")
    assert steps_asked_for(300, None, 50).total_steps == 50
    assert steps_asked_for(300, 2.5, None).total_steps == 750


def test_the_validation_cadence_is_about_a_minute_unless_validating_would_cost_more_than_5_percent():
    assert validation_interval(seconds_per_step=0.2, seconds_per_validation=1.0) == 300  # 60 s
    assert validation_interval(seconds_per_step=0.2, seconds_per_validation=6.0) == 600  # 6 s = 5% of 120 s
    assert validation_interval(seconds_per_step=120.0, seconds_per_validation=1.0) == 1
    measured = _fit(0.2, seconds_per_validation=1.0, eval_every=None)
    assert measured.eval_every == 300
    assert _fit(0.2, seconds_per_validation=1.0, eval_every=7).eval_every == 7  # --eval-every wins


def test_without_a_budget_the_plan_keeps_its_steps_and_settles_only_the_cadence():
    plan = _fit(0.2, seconds_per_validation=1.0, budget=None, eval_every=None)
    assert (plan.total_steps, plan.limited_by, plan.settled) == (1000, "epochs", True)
    assert plan.eval_every == 300 and plan.measured_at_step == 20
