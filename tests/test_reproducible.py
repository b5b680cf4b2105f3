"""Same seed, same model: a run repeated, or interrupted anywhere and resumed, ends with the same
bytes; the schedule follows the step plan alone; the precision is chosen from the hardware."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from charrnn.errors import ConfigError
from charrnn.model.checkpoint import Checkpoint
from charrnn.runtime import bf16_support
from charrnn.train.loop import train
from charrnn.train.metrics_log import read_metrics
from charrnn.train.observers import StepsLogged, TrainObserver
from charrnn.train.run_config import config_for_resume

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

    def on_log(self, event: StepsLogged) -> None:
        if event.step == self.step:
            os.kill(os.getpid(), self.signum)


def assert_same_bytes(a: Path, b: Path) -> None:
    """Weights, optimizer state and carried state of two checkpoints, bit for bit."""
    x, y = Checkpoint.load(a / "last.pt"), Checkpoint.load(b / "last.pt")
    assert x.training.progress.step == y.training.progress.step
    for name, tensor in x.weights.items():
        assert torch.equal(tensor, y.weights[name]), name
    for k, state in x.training.optimizer["state"].items():
        for name, tensor in state.items():
            assert torch.equal(tensor, y.training.optimizer["state"][k][name]), (k, name)
    assert len(x.training.carried_state) == len(y.training.carried_state) > 0
    for s, t in zip(x.training.carried_state, y.training.carried_state, strict=True):
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
    saved = Checkpoint.load(tmp_path / "s" / "last.pt")
    assert saved.training.precision == precision


def test_the_state_carried_under_bf16_autocast_is_kept_and_saved_in_fp32(make_config, tmp_path, monkeypatch):
    # A tanh RNN runs under bf16 autocast on every CPU; its state comes out of the kernel in bf16.
    monkeypatch.setattr("charrnn.train.start.run_precision", lambda saved, config, device: ("bf16", ""))
    config = make_config(cell="rnn", max_steps=3, eval_every=3)
    train(config)
    saved = Checkpoint.load(Path(config.checkpoint_dir) / "last.pt")
    assert saved.training.precision == "bf16"
    assert [t.dtype for t in saved.training.carried_state] == [torch.float32]


# -- a run sized by its time budget ---------------------------------------------------------
class Clock:
    """A fake clock: every reading is `tick` seconds after the previous one."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_a_budget_is_turned_into_a_plan_and_the_rate_reaches_its_floor(make_config, tmp_path):
    config = make_config(epochs=100, max_steps=None, max_minutes=1.0, warmup_steps=20, eval_every=1000)
    result = train(config, clock=Clock(0.05))
    records = read_metrics(Path(config.checkpoint_dir) / "metrics.jsonl")
    plans = [r for r in records if r["event"] == "plan"]  # settled before warm-up ends, maybe re-settled
    plan = plans[-1]
    first = plans[0]  # settled before any step's rate depended on it
    assert first["step"] <= config.schedule.decay_start(first["total_steps"]) + 1
    assert plan["limited_by"] == "max_minutes"
    assert result.stop_reason == "max_minutes" and result.step == plan["total_steps"]
    steps = [r for r in records if r["event"] == "train"]
    assert steps[-1]["step"] == plan["total_steps"]
    assert steps[-1]["lr"] == pytest.approx(config.lr * config.min_lr_frac)
    saved = Checkpoint.load(Path(config.checkpoint_dir) / "last.pt")
    assert saved.training.plan.total_steps == plan["total_steps"] and saved.training.plan.settled

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
    assert Checkpoint.load(Path(config.checkpoint_dir) / "last.pt").training.plan.total_steps == 6
    resumed = train(config_for_resume(Path(config.checkpoint_dir), {}), resume=True)
    assert resumed.step == 6 and resumed.stop_reason == "max_steps"
    done = train(config_for_resume(Path(config.checkpoint_dir), {}), resume=True)
    assert done.step == 6  # complete: nothing more to do
    extended = train(config_for_resume(Path(config.checkpoint_dir), {"max_steps": 9}), resume=True)
    assert extended.step == 9
    assert Checkpoint.load(Path(config.checkpoint_dir) / "last.pt").training.plan.total_steps == 9
