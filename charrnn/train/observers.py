"""Training reports: the observer interface and the metrics.jsonl writer."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charrnn.errors import CheckpointError


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

    def on_plan(self, record: dict[str, Any]) -> None:
        """The step plan was settled (plan.py): total_steps, limited_by, the measured speed."""

    def on_message(self, text: str) -> None:
        pass


class MetricsLog(TrainObserver):
    """Appends one JSON object per log line and per evaluation to CHECKPOINT_DIR/metrics.jsonl."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, record: dict[str, Any]) -> None:
        try:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as e:
            raise CheckpointError(f"could not write {self.path}: {e.strerror or e}") from None

    def on_log(self, record: dict[str, Any]) -> None:
        self._append(record)

    def on_eval(self, record: dict[str, Any], sample: str) -> None:
        self._append(record)

    def on_plan(self, record: dict[str, Any]) -> None:
        self._append(record)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl; a line torn by a killed process is left out."""
    records = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def rewind_metrics(path: Path, step: int) -> None:
    """Keep only the records up to `step` (the checkpoint a resumed run continues from).

    A run killed after its last checkpoint logged steps that the resumed run will log again.
    """
    if not path.exists():
        return
    kept = [r for r in read_metrics(path) if isinstance(r.get("step"), int) and r["step"] <= step]
    tmp = path.with_name(f".{path.name}.rewind.tmp")
    try:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"could not write {path}: {e.strerror or e}") from None
