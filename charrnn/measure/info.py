"""`charrnn info`: what a checkpoint holds, as plain JSON-ready data (cli/info.py renders it).

Like char-rnn's inspect_checkpoint.lua, but for people: the model, its vocabulary, the corpus it
learned from, how far training got and how well it did.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from charrnn.measure.loss import LN2
from charrnn.model.checkpoint import LoadedModel
from charrnn.model.network import count_parameters


def _bits(nats: float | None) -> float | None:
    return None if nats is None or not math.isfinite(nats) else nats / LN2


def describe_checkpoint(loaded: LoadedModel, path: Path) -> dict[str, Any]:
    """What the checkpoint at `path`, loaded as `loaded` (so its weights fit its config), holds."""
    checkpoint, training = loaded.checkpoint, loaded.checkpoint.training
    corpus = checkpoint.corpus
    info: dict[str, Any] = {
        "checkpoint": str(path),
        "format_version": checkpoint.format_version,
        "charrnn_version": checkpoint.written_by,
        "model": {**checkpoint.model_config.to_dict(), "parameters": count_parameters(loaded.network)},
        "vocabulary": {"size": loaded.vocab.size, "chars": list(loaded.vocab.chars)},
        "corpus": None
        if corpus is None
        else {**corpus.to_dict(), "size": sum(f.size for f in corpus.files), "num_files": len(corpus.files)},
        "training": dict.fromkeys(("step", "epochs", "chars_seen", "seconds", "precision", "plan", "config")),
    }
    if training is None:
        return info
    progress, history = training.progress, training.history
    best = progress.best_val_loss if math.isfinite(progress.best_val_loss) else None
    last = history[-1].val_loss if history else None
    # the current epoch's completed part, from the last validation if it was at this step
    fraction = history[-1].epoch % 1.0 if history and history[-1].step == progress.step else 0.0
    info["training"] = {
        "step": progress.step,
        "epochs": progress.epochs_done + fraction,
        "chars_seen": progress.chars_seen,
        "seconds": progress.seconds,
        "precision": training.precision,
        "plan": asdict(training.plan) if training.plan is not None else None,
        "best_val_nats_per_char": best,
        "best_val_bits_per_char": _bits(best),
        "last_val_nats_per_char": last,
        "last_val_bits_per_char": _bits(last),
        "config": training.config,
    }
    return info
