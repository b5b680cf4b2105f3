"""Training reports: the observer interface and the metrics.jsonl writer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunInfo:
    """What a run is about to do, told to observers once at the start."""

    corpus_path: str
    checkpoint_dir: str
    device: str
    precision: str
    threads: int
    vocab_size: int
    num_parameters: int
    train_chars: int
    val_chars: int
    windows_per_epoch: int
    total_steps: int
    start_step: int
    resumed: bool


class TrainObserver:
    """Receives training events; override what you need. Records are plain JSON-ready dicts."""

    def on_start(self, info: RunInfo) -> None:
        pass

    def on_log(self, record: dict[str, Any]) -> None:
        pass

    def on_eval(self, record: dict[str, Any], sample: str) -> None:
        pass

    def on_message(self, text: str) -> None:
        pass


class MetricsLog(TrainObserver):
    """Appends one JSON object per log line and per evaluation to CHECKPOINT_DIR/metrics.jsonl."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def on_log(self, record: dict[str, Any]) -> None:
        self._append(record)

    def on_eval(self, record: dict[str, Any], sample: str) -> None:
        self._append(record)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
