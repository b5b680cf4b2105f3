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


def _rates(schedule, plans, steps):
    """The rates a run takes whose plans are adopted at the steps given: [(step, total)], each
    continued from the plan before as the budget does it (budget.py's _adopt)."""
    (_, first_total), *later = plans
    rates, current, queue = [], (first_total, None, 0.0), list(later)
    for step in range(steps):
        if queue and queue[0][0] == step:
            _, total = queue.pop(0)
            continued = schedule.continued(step, *current, total)
            current = (total, *(continued or (None, 0.0)))
        rates.append(schedule.rate(step, *current))
    return rates, current


@pytest.mark.parametrize("decay_frac", [0.35, 1.0])
@pytest.mark.parametrize("new_total", [700, 900, 1000, 1500])
@pytest.mark.parametrize("at", [5, 300, 700, 850])
def test_a_plan_changed_anywhere_keeps_the_rates_taken_and_decays_smoothly_to_the_floor_at_its_end(
    decay_frac, new_total, at
):
    schedule = Schedule(peak_lr=1.0, warmup_steps=20, min_lr_frac=0.1, decay_frac=decay_frac)
    if at >= new_total:
        return
    before, _ = _rates(schedule, [(0, 1000)], at)
    rates, (total, decay_from, _) = _rates(schedule, [(0, 1000), (at, new_total)], new_total)
    assert rates[:at] == before  # the steps taken keep their rates
    assert rates[-1] == pytest.approx(0.1)  # the floor at the new plan's last step
    assert all(a >= b for a, b in zip(rates[20:], rates[21:], strict=False))  # never up again
    steps = [a - b for a, b in zip(rates[20:], rates[21:], strict=False)]
    planned = [schedule.rate(s, 1000) for s in range(1000)]
    steepest = max(a - b for a, b in zip(planned[20:], planned[21:], strict=False))
    assert max(steps) <= steepest * max(1.0, 1000 / (new_total - at)) * 1.01  # no jump
    unchanged = at - 1 <= schedule.decay_start(min(1000, new_total))
    assert (decay_from is None) == unchanged  # a plain plan where nothing had decayed yet
    if decay_from is None:  # and then its rates are those of a run planned so from the start
        assert rates == [schedule.rate(s, new_total) for s in range(new_total)]


def test_a_plan_continued_twice_goes_on_from_where_the_second_change_found_it():
    schedule = Schedule(peak_lr=1.0, warmup_steps=10, min_lr_frac=0.02, decay_frac=0.35)
    rates, (total, decay_from, progress) = _rates(schedule, [(0, 1000), (800, 1200), (1000, 1100)], 1100)
    assert decay_from == 999 and 0 < progress < 1 and total == 1100
    once, _ = _rates(schedule, [(0, 1000), (800, 1200)], 1000)
    assert rates[:1000] == once
    assert rates[1099] == pytest.approx(0.02)


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
