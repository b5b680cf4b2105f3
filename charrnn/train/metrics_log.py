"""CHECKPOINT_DIR/metrics.jsonl: one JSON object per log line, validation and plan, appended as
training goes, read back for `charrnn plot`, and cut back to a checkpoint on resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from charrnn.errors import CheckpointError
from charrnn.files import atomic_write
from charrnn.train.observers import PlanSettled, StepsLogged, TrainObserver, Validated


class MetricsLog(TrainObserver):
    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, record: dict[str, Any]) -> None:
        try:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as e:
            raise CheckpointError(f"could not write {self.path}: {e.strerror or e}") from None

    def on_log(self, event: StepsLogged) -> None:
        self._append(event.to_record())

    def on_validation(self, event: Validated) -> None:
        self._append(event.validation.to_record())

    def on_plan(self, event: PlanSettled) -> None:
        self._append(event.to_record())


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
    text = "".join(json.dumps(r) + "\n" for r in kept).encode("utf-8")
    try:
        atomic_write(path, lambda f: f.write(text))
    except OSError as e:
        raise CheckpointError(f"could not write {path}: {e.strerror or e}") from None
