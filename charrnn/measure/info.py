"""`charrnn info`: what a checkpoint holds, as plain JSON-ready data (cli/info.py renders it).

Like char-rnn's inspect_checkpoint.lua, but for people: the model, its vocabulary, the corpus it
learned from, how far training got and how well it did.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from charrnn.measure.loss import LN2
from charrnn.model.checkpoint import Checkpoint, LoadedModel
from charrnn.model.network import count_parameters
from charrnn.model.records import Sizing, StepPlan, TrainingRecord


def _bits(nats: float | None) -> float | None:
    return None if nats is None or not math.isfinite(nats) else nats / LN2


@dataclass(frozen=True)
class TrainingSummary:
    """How far a checkpoint's training got and how well it did."""

    step: int
    epochs: float  # completed epochs and the current one's part, as of the last validation
    chars_seen: int
    seconds: float
    precision: str
    plan: StepPlan | None
    best_val_loss: float | None  # nats/char
    last_val_loss: float | None
    config: dict[str, Any]
    sizing: Sizing | None = None

    @classmethod
    def of(cls, training: TrainingRecord) -> TrainingSummary:
        progress, history = training.progress, training.history
        # the current epoch's completed part, from the last validation if it was at this step
        fraction = history[-1].epoch % 1.0 if history and history[-1].step == progress.step else 0.0
        return cls(
            step=progress.step,
            epochs=progress.epochs_done + fraction,
            chars_seen=progress.chars_seen,
            seconds=progress.seconds,
            precision=training.precision,
            plan=training.plan,
            best_val_loss=progress.best_val_loss if math.isfinite(progress.best_val_loss) else None,
            last_val_loss=history[-1].val_loss if history else None,
            config=training.config,
            sizing=training.sizing,
        )

    @property
    def best_val_bits(self) -> float | None:
        return _bits(self.best_val_loss)

    @property
    def last_val_bits(self) -> float | None:
        return _bits(self.last_val_loss)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epochs": self.epochs,
            "chars_seen": self.chars_seen,
            "seconds": self.seconds,
            "precision": self.precision,
            "plan": asdict(self.plan) if self.plan is not None else None,
            "best_val_nats_per_char": self.best_val_loss,
            "best_val_bits_per_char": self.best_val_bits,
            "last_val_nats_per_char": self.last_val_loss,
            "last_val_bits_per_char": self.last_val_bits,
            "config": self.config,
            "sizing": None if self.sizing is None else self.sizing.to_dict(),
        }


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint holds, typed: `charrnn info`'s table reads it, `to_dict` is its --json."""

    path: Path
    checkpoint: Checkpoint
    parameters: int
    training: TrainingSummary | None

    @classmethod
    def of(cls, loaded: LoadedModel, path: Path) -> CheckpointInfo:
        training = loaded.checkpoint.training
        summary = None if training is None else TrainingSummary.of(training)
        return cls(path, loaded.checkpoint, count_parameters(loaded.network), summary)

    def to_dict(self) -> dict[str, Any]:
        checkpoint, corpus = self.checkpoint, self.checkpoint.corpus
        empty = dict.fromkeys(("step", "epochs", "chars_seen", "seconds", "precision", "plan", "config"))
        return {
            "checkpoint": str(self.path),
            "format_version": checkpoint.format_version,
            "charrnn_version": checkpoint.written_by,
            "model": {**checkpoint.model_config.to_dict(), "parameters": self.parameters},
            "vocabulary": {"size": checkpoint.vocabulary.size, "chars": list(checkpoint.vocabulary.chars)},
            "corpus": None
            if corpus is None
            else {
                **corpus.to_dict(),
                "size": sum(f.size for f in corpus.files),
                "num_files": len(corpus.files),
            },
            "training": empty if self.training is None else self.training.to_dict(),
        }


def describe_checkpoint(loaded: LoadedModel, path: Path) -> dict[str, Any]:
    """What the checkpoint at `path`, loaded as `loaded` (so its weights fit its config), holds, as
    plain data (the document `charrnn info --json` prints)."""
    return CheckpointInfo.of(loaded, path).to_dict()
