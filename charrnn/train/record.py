"""What a training run records: where it stands (Progress, saved in every checkpoint), how it
ended (TrainResult), the files it owns, and the checkpoint payload that lets it resume exactly."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from charrnn import __version__
from charrnn.data.corpus import Corpus
from charrnn.model.network import CharRNN, State
from charrnn.train.config import TrainConfig
from charrnn.train.plan import StepPlan
from charrnn.train.start import rng_state


@dataclass
class Progress:
    """Where a run stands; saved in every checkpoint so that resume continues exactly."""

    step: int = 0
    epoch: int = 0  # completed epochs
    window: int = 0  # next window index within the current epoch
    chars_seen: int = 0
    seconds: float = 0.0
    best_val_loss: float = math.inf


RUN_FILES = ("metrics.jsonl", "best.pt", "last.pt")


@dataclass(frozen=True)
class TrainResult:
    stop_reason: str  # "epochs", "max_steps", "max_minutes" (the plan's limit or the budget), "interrupted"
    step: int
    epoch: int
    chars_seen: int
    seconds: float
    last_val_loss: float | None
    best_val_loss: float | None
    checkpoint_dir: str
    exit_code: int = 0


def checkpoint_payload(
    model: CharRNN,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    precision: str,
    progress: Progress,
    carried: State | None,
    history: list[dict[str, Any]],
    corpus: Corpus,
    plan: StepPlan,
) -> dict[str, Any]:
    """Everything `--resume` needs, as tensors and plain values (see checkpoint.py)."""
    return {
        "charrnn_version": __version__,
        "model_config": model.config.to_dict(),
        "vocab": corpus.vocab.chars,
        "model_state": model.state_dict(),
        "optimizer_state": optimizer.state_dict(),
        "train_config": config.to_dict(),
        "precision": precision,
        "progress": asdict(progress),
        "plan": plan.to_dict(),
        "carried_state": [t.float() for t in carried] if carried is not None else [],
        "rng": rng_state(),
        "history": history,
        "corpus": {
            **corpus.fingerprint.to_dict(),
            "num_chars": int(len(corpus.ids)),
            "val_frac": config.val_frac,
        },
    }
