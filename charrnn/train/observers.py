"""What training reports, as typed events, and the observers that receive them.

The loop tells its observers what happened; it never prints. The CLI's progress display
(cli/progress.py) and metrics.jsonl (metrics_log.py) are observers; so is any test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only names here: reading metrics.jsonl (charrnn plot) needs no PyTorch
    from charrnn.model.records import StepPlan, Validation


@dataclass(frozen=True)
class RunStarted:
    """What a run is about to do, told once at the start."""

    corpus: str  # for people: "poems/ (12 files)"
    checkpoint_dir: str
    device: str
    precision: str
    threads: int
    vocab_size: int
    num_parameters: int
    train_chars: int
    val_chars: int
    windows_per_epoch: int
    total_steps: int | None  # None while the budget is not yet turned into steps
    start_step: int
    resumed: bool


@dataclass(frozen=True)
class StepsLogged:
    """The training steps since the last log line, every --log-every steps."""

    step: int
    epoch: float
    chars_seen: int
    seconds: float
    train_loss: float  # nats per character, the mean over the steps since the last log line
    train_bpc: float
    lr: float
    chars_per_sec: float
    total_steps: int | None  # None while the budget is not yet turned into steps
    threads: int | None = None  # CPU threads training at the end of these steps (threads.py)

    def to_record(self) -> dict[str, Any]:
        return {"event": "train", **asdict(self)}


@dataclass(frozen=True)
class Validated:
    """A validation pass, at the plan's cadence and at the end, and a sample of the model."""

    validation: Validation
    sample: str


@dataclass(frozen=True)
class PlanSettled:
    """The step plan was fixed (train/plan.py)."""

    step: int
    epoch: float
    chars_seen: int
    seconds: float
    plan: StepPlan

    def to_record(self) -> dict[str, Any]:
        where = {k: v for k, v in asdict(self).items() if k != "plan"}
        return {"event": "plan", **where, **asdict(self.plan)}


class TrainObserver:
    """Receives training events; override what you need."""

    def on_start(self, event: RunStarted) -> None:
        pass

    def on_log(self, event: StepsLogged) -> None:
        pass

    def on_validation(self, event: Validated) -> None:
        pass

    def on_plan(self, event: PlanSettled) -> None:
        pass

    def on_message(self, text: str) -> None:
        pass


class Observers(TrainObserver):
    """Several observers as one: each event goes to each, in order."""

    def __init__(self, observers: Sequence[TrainObserver]) -> None:
        self.observers = list(observers)

    def on_start(self, event: RunStarted) -> None:
        for observer in self.observers:
            observer.on_start(event)

    def on_log(self, event: StepsLogged) -> None:
        for observer in self.observers:
            observer.on_log(event)

    def on_validation(self, event: Validated) -> None:
        for observer in self.observers:
            observer.on_validation(event)

    def on_plan(self, event: PlanSettled) -> None:
        for observer in self.observers:
            observer.on_plan(event)

    def on_message(self, text: str) -> None:
        for observer in self.observers:
            observer.on_message(text)
