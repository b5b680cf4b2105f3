"""The step plan and the learning-rate schedule, as pure functions of their inputs."""

import math

import pytest

from charrnn.model.checkpoint import StepPlan
from charrnn.train.plan import SAFETY, UNLIMITED, settle, steps_asked_for, validation_interval
from charrnn.train.schedule import learning_rate


def test_the_schedule_warms_up_then_decays_by_cosine_to_the_floor_at_the_last_step():
    rates = [learning_rate(s, 1.0, 10, 110, 0.1) for s in range(110)]
    assert rates[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert rates[10] == 1.0  # the peak, whatever the plan
    assert rates[60] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 50 / 99)))
    assert rates[109] == pytest.approx(0.1)  # the plan's last step takes the floor
    assert all(a >= b for a, b in zip(rates[10:], rates[11:], strict=False))
    assert learning_rate(500, 1.0, 10, 110, 0.1) == pytest.approx(0.1)  # past the plan: the floor


ASKED = StepPlan(total_steps=1000, limited_by="epochs", settled=False)


def _fit(
    seconds_per_step: float,
    seconds_per_validation: float = 0.0,
    spent: float = 10.0,
    asked: StepPlan = ASKED,
    budget: float | None = 100.0,
    eval_every: int | None = 100,
    seconds_per_last_validation: float | None = None,
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
    )


def test_steps_that_fit_the_budget_keep_the_plan_asked_for():
    plan = _fit(0.05)  # 980 more steps take 49 s of the 90 s left
    assert (plan.total_steps, plan.limited_by, plan.settled) == (1000, "epochs", True)
    assert plan.chars_per_sec == pytest.approx(64_000) and plan.measured_at_step == 20


def test_a_budget_too_short_becomes_the_largest_plan_that_fits_it():
    plan = _fit(0.2)  # 0.95 x 90 s at 0.2 s a step: 427 more steps
    assert SAFETY == 0.95
    assert (plan.total_steps, plan.limited_by) == (20 + 427, "max_minutes")
    # validations are paid for from the budget: 0.95 x 90 s = 85.5 s holds 380 steps (76 s) and the
    # 4 validations at 100, 200, 300 and 400 (8 s); a 401st step would cost a fifth validation
    with_validations = _fit(0.2, seconds_per_validation=2.0)
    assert with_validations.total_steps == 400
    assert _fit(0.2, spent=100.0).total_steps == 20  # nothing left: stop now


def test_the_last_validation_is_priced_at_its_own_cost():
    """The validations before the last are cheap (segments side by side), the last is exact: 85.5 s
    hold 10 s for the last one and 377 steps (75.4 s) with their 3 cheap validations (0 s)."""
    asked = steps_asked_for(windows_per_epoch=300, epochs=None, max_steps=None)
    plan = _fit(0.2, asked=asked, seconds_per_last_validation=10.0)
    assert plan.total_steps == 20 + 377


def test_without_epochs_or_max_steps_the_budget_alone_sizes_the_run():
    asked = steps_asked_for(windows_per_epoch=300, epochs=None, max_steps=None)
    assert (asked.total_steps, asked.limited_by) == (UNLIMITED, "max_minutes")
    plan = _fit(0.2, asked=asked)  # the whole budget is used, however many epochs it buys
    assert (plan.total_steps, plan.limited_by) == (20 + 427, "max_minutes")
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
