"""Training curves from CHECKPOINT_DIR/metrics.jsonl, for `charrnn plot`: train and validation
bits per character and the learning rate, against characters seen."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from charrnn.errors import CheckpointError
from charrnn.train.metrics_log import read_metrics

Series = list[tuple[float, float]]  # (characters seen, value)


@dataclass
class Curves:
    name: str
    train_bpc: Series = field(default_factory=list)
    val_bpc: Series = field(default_factory=list)
    lr: Series = field(default_factory=list)


def load_curves(run_dir: Path) -> Curves:
    metrics = run_dir / "metrics.jsonl"
    if not metrics.is_file():
        raise CheckpointError(
            f"no metrics.jsonl in {run_dir}: is it a checkpoint directory of `charrnn train`?"
        )
    curves = Curves(name=str(run_dir))
    for record in read_metrics(metrics):
        x = float(record.get("chars_seen", 0))
        if record.get("event") == "train" and "train_bpc" in record:
            curves.train_bpc.append((x, float(record["train_bpc"])))
            curves.lr.append((x, float(record["lr"])))
        elif record.get("event") == "val" and "val_bpc" in record:
            curves.val_bpc.append((x, float(record["val_bpc"])))
    if not curves.train_bpc and not curves.val_bpc:
        raise CheckpointError(f"{metrics} holds no training records yet")
    return curves
