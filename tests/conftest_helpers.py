"""Small observers shared by tests."""

from typing import Any

from charrnn.metrics import TrainObserver


class LossRecorder(TrainObserver):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_log(self, record: dict[str, Any]) -> None:
        self.losses.append(record["train_loss"])
