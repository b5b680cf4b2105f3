"""Same seed, same model: a run repeated, or interrupted anywhere and resumed, ends with the same
bytes; the schedule follows the step plan alone; the precision is chosen from the hardware."""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from charrnn.errors import ConfigError
from charrnn.model.checkpoint import load_checkpoint
from charrnn.runtime import Bf16Support, bf16_support, precision_for
from charrnn.train.loop import train
from charrnn.train.observers import TrainObserver, read_metrics
from charrnn.train.plan import SAFETY, StepPlan, fit_to_budget
from charrnn.train.schedule import learning_rate
from charrnn.train.start import config_for_resume, run_precision

CPU = torch.device("cpu")
CAN_RUN_BF16 = bf16_support(CPU).runs
# batch 4 x 40 on the tiny corpus: 9 windows an epoch, so 14 steps cross an epoch boundary (the
# state is reset there); validation at steps 5 and 10; dropout so that the RNG state matters.
RUN: dict[str, Any] = {
    "batch_size": 4,
    "seq_len": 40,
    "max_steps": 14,
    "eval_every": 5,
    "dropout": 0.2,
    "warmup_steps": 3,
    "sample_chars": 8,
}


class SignalAt(TrainObserver):
    """Sends this process a real signal when step `step` is logged (before its validation)."""

    def __init__(self, step: int, signum: int) -> None:
        self.step, self.signum = step, signum

    def on_log(self, record: dict[str, Any]) -> None:
        if record["step"] == self.step:
            os.kill(os.getpid(), self.signum)


def assert_same_bytes(a: Path, b: Path) -> None:
    """Weights, optimizer state and carried state of two checkpoints, bit for bit."""
    x, y = load_checkpoint(a / "last.pt"), load_checkpoint(b / "last.pt")
    assert x["progress"]["step"] == y["progress"]["step"]
    for name, tensor in x["model_state"].items():
        assert torch.equal(tensor, y["model_state"][name]), name
    for k, state in x["optimizer_state"]["state"].items():
        for name, tensor in state.items():
            assert torch.equal(tensor, y["optimizer_state"]["state"][k][name]), (k, name)
    assert len(x["carried_state"]) == len(y["carried_state"]) > 0
    for s, t in zip(x["carried_state"], y["carried_state"], strict=True):
        assert s.dtype == t.dtype == torch.float32 and torch.equal(s, t)


CASES = [
    (cell, precision, interrupt)
    for cell in ("lstm", "gru", "mlstm")
    for precision in ("fp32", "bf16")
    for interrupt in ((1, signal.SIGINT), (9, signal.SIGTERM), (10, signal.SIGINT))
]


@pytest.mark.parametrize(
    ("cell", "precision", "interrupt"),
    CASES,
    ids=[f"{c}-{p}-{signal.Signals(s).name}@{k}" for c, p, (k, s) in CASES],
)
def test_a_run_repeated_or_interrupted_and_resumed_ends_with_the_same_bytes(
    make_config, tmp_path: Path, cell: str, precision: str, interrupt: tuple[int, int]
):
    """Interrupted at step 1, at the epoch boundary (9) and during a validation (10, the signal
    arrives as the step is logged, just before validating): the default time budget stays on."""
    step, signum = interrupt
    config = {**RUN, "cell": cell, "precision": precision, "hidden_size": 24}
    if precision == "bf16" and not CAN_RUN_BF16:
        with pytest.raises(ConfigError, match="--precision bf16 cannot run on this CPU"):
            train(make_config(checkpoint_dir=str(tmp_path / "refused"), **config))
        assert not (tmp_path / "refused").exists()  # refused before any work
        return
    whole, again, split = (make_config(checkpoint_dir=str(tmp_path / d), **config) for d in ("w", "a", "s"))
    assert whole.max_minutes is not None  # the default budget stays on as a cap
    train(whole)
    train(again)
    assert_same_bytes(tmp_path / "w", tmp_path / "a")

    stopped = train(split, [SignalAt(step, signum)])
    assert stopped.stop_reason == "interrupted" and stopped.step == step
    assert stopped.exit_code == 128 + signum
    resumed = train(config_for_resume(tmp_path / "s", {}), resume=True)
    assert resumed.step == RUN["max_steps"]
    assert_same_bytes(tmp_path / "w", tmp_path / "s")
    saved = load_checkpoint(tmp_path / "s" / "last.pt")
    assert saved["precision"] == precision


def test_the_state_carried_under_bf16_autocast_is_kept_and_saved_in_fp32(make_config, tmp_path, monkeypatch):
    # A tanh RNN runs under bf16 autocast on every CPU; its state comes out of the kernel in bf16.
    monkeypatch.setattr("charrnn.train.loop.run_precision", lambda saved, config, device: ("bf16", ""))
    config = make_config(cell="rnn", max_steps=3, eval_every=3)
    train(config)
    saved = load_checkpoint(Path(config.checkpoint_dir) / "last.pt")
    assert saved["precision"] == "bf16"
    assert [t.dtype for t in saved["carried_state"]] == [torch.float32]


# -- precision, chosen from what the hardware can do ------------------------------------------
NATIVE = Bf16Support(runs=True, native=True, hardware="a CPU with AMX")
EMULATED = Bf16Support(runs=True, native=False, hardware="a CPU with AVX-512")
NONE = Bf16Support(runs=False, native=False, hardware="this CPU (AVX2)")


@pytest.mark.parametrize(
    ("support", "auto", "bf16"),
    [(NATIVE, "bf16", "bf16"), (EMULATED, "fp32", "bf16"), (NONE, "fp32", None)],
)
def test_precision_follows_the_hardware_not_a_timing(support: Bf16Support, auto: str, bf16: str | None):
    assert [precision_for("auto", support) for _ in range(5)] == [auto] * 5
    assert precision_for("fp32", support) == "fp32"
    if bf16 is None:
        with pytest.raises(ConfigError, match=r"--precision bf16 cannot run on this CPU \(AVX2\)"):
            precision_for("bf16", support)
    else:
        assert precision_for("bf16", support) == bf16
    with pytest.raises(ConfigError, match="--precision must be one of"):
        precision_for("fp16", support)


def test_this_machine_is_described_by_its_cpu_flags():
    support = bf16_support(CPU)
    assert support.runs == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert not support.native or support.runs


def _saved(precision: str, asked: str = "auto") -> dict[str, Any]:
    return {"precision": precision, "train_config": {"precision": asked}}


def test_a_resumed_run_keeps_its_recorded_precision(make_config, monkeypatch):
    config = make_config(precision="auto")
    # A machine that would now pick bf16 by itself: the run recorded fp32 and keeps it.
    monkeypatch.setattr("charrnn.train.start.choose_precision", lambda name, device: "bf16")
    assert run_precision(_saved("fp32"), config, CPU) == ("fp32", "")
    # Asked again explicitly (a different --precision on resume): re-decided, with a warning.
    chosen, warning = run_precision(_saved("fp32"), make_config(precision="bf16"), CPU)
    assert chosen == "bf16" and "will not be bitwise equal" in warning
    # A fresh run decides.
    assert run_precision(None, config, CPU) == ("bf16", "")


def test_a_bf16_run_resumed_where_bf16_cannot_run_is_refused_with_the_way_out(make_config, monkeypatch):
    monkeypatch.setattr("charrnn.train.start.bf16_support", lambda device: NONE)
    with pytest.raises(ConfigError, match=r"trained in bf16.*add --precision fp32"):
        run_precision(_saved("bf16"), make_config(precision="auto"), CPU)


# -- the schedule and the plan -----------------------------------------------------------------
def test_the_schedule_warms_up_then_decays_by_cosine_to_the_floor_at_the_last_step():
    rates = [learning_rate(s, 1.0, 10, 110, 0.1) for s in range(110)]
    assert rates[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert rates[10] == 1.0  # the peak, whatever the plan
    assert rates[60] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 50 / 99)))
    assert rates[109] == pytest.approx(0.1)  # the plan's last step takes the floor
    assert all(a >= b for a, b in zip(rates[10:], rates[11:], strict=False))
    assert learning_rate(500, 1.0, 10, 110, 0.1) == pytest.approx(0.1)  # past the plan: the floor


ASKED = StepPlan(total_steps=1000, limited_by="epochs", settled=False)


def _fit(seconds_per_step: float, seconds_per_validation: float = 0.0, spent: float = 10.0) -> StepPlan:
    return fit_to_budget(
        ASKED,
        step=20,
        seconds_spent=spent,
        budget_seconds=100.0,
        seconds_per_step=seconds_per_step,
        seconds_per_validation=seconds_per_validation,
        eval_every=100,
        chars_per_step=3200,
    )


def test_steps_that_fit_the_budget_keep_the_plan_asked_for():
    plan = _fit(0.05)  # 980 more steps take 49 s of the 90 s left
    assert (plan.total_steps, plan.limited_by, plan.settled) == (1000, "epochs", True)
    assert plan.chars_per_sec == pytest.approx(64_000) and plan.measured_at_step == 20


def test_a_budget_too_short_becomes_the_largest_plan_that_fits_it():
    plan = _fit(0.2)  # 0.97 x 90 s at 0.2 s a step: 436 more steps
    assert (plan.total_steps, plan.limited_by) == (20 + 436, "max_minutes")
    # validations are paid for from the budget: 5 of them at 2 s
    with_validations = _fit(0.2, seconds_per_validation=2.0)
    validations = with_validations.total_steps // 100 - 20 // 100 + 1
    assert validations == 5
    assert with_validations.total_steps == 20 + math.floor((SAFETY * 90 - 5 * 2.0) / 0.2)
    assert _fit(0.2, spent=100.0).total_steps == 20  # nothing left: stop now


class Clock:
    """A fake clock: every reading is `tick` seconds after the previous one."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_a_budget_is_turned_into_a_plan_once_and_the_rate_reaches_its_floor(make_config, tmp_path):
    config = make_config(epochs=100, max_steps=None, max_minutes=1.0, warmup_steps=20, eval_every=1000)
    result = train(config, clock=Clock(0.05))
    records = read_metrics(Path(config.checkpoint_dir) / "metrics.jsonl")
    (plan,) = [r for r in records if r["event"] == "plan"]
    assert plan["limited_by"] == "max_minutes" and plan["step"] <= 21
    assert result.stop_reason == "max_minutes" and result.step == plan["total_steps"]
    steps = [r for r in records if r["event"] == "train"]
    assert steps[-1]["step"] == plan["total_steps"]
    assert steps[-1]["lr"] == pytest.approx(config.lr * config.min_lr_frac)
    saved = load_checkpoint(Path(config.checkpoint_dir) / "last.pt")
    assert saved["plan"]["total_steps"] == plan["total_steps"] and saved["plan"]["settled"]

    # What the plan's message promises: --max-steps N --max-minutes 0 repeats this run.
    again = make_config(
        checkpoint_dir=str(tmp_path / "again"),
        epochs=100,
        max_steps=plan["total_steps"],
        max_minutes=None,
        warmup_steps=20,
        eval_every=1000,
    )
    train(again)
    assert_same_bytes(Path(config.checkpoint_dir), tmp_path / "again")


def test_resuming_continues_the_saved_plan_and_a_new_limit_replans(make_config, tmp_path):
    config = make_config(max_steps=6, eval_every=3)
    train(config, [SignalAt(2, signal.SIGINT)])
    assert load_checkpoint(Path(config.checkpoint_dir) / "last.pt")["plan"]["total_steps"] == 6
    resumed = train(config_for_resume(Path(config.checkpoint_dir), {}), resume=True)
    assert resumed.step == 6 and resumed.stop_reason == "max_steps"
    done = train(config_for_resume(Path(config.checkpoint_dir), {}), resume=True)
    assert done.step == 6  # complete: nothing more to do
    extended = train(config_for_resume(Path(config.checkpoint_dir), {"max_steps": 9}), resume=True)
    assert extended.step == 9
    assert load_checkpoint(Path(config.checkpoint_dir) / "last.pt")["plan"]["total_steps"] == 9
