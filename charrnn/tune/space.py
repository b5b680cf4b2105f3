"""What a tune searches over, and the trial that is today's default recipe.

Every trial is a TrainConfig: its recipe (below) sampled by Optuna's TPE sampler, the rest
(corpus, seed, threads, precision, the budget) the study's. The default is enqueued as the
first trial, so the study's best is never worse than the default at the trial budget.
"""

from __future__ import annotations

import shlex
from dataclasses import fields
from typing import Any

from charrnn.train.config import TrainConfig

CELLS = ("gru", "lstm")
LAYERS = (1, 2, 3)
# "sized": the width the budget buys on this machine (train/sizing.py), as the default run does
WIDTHS = ("sized", "128", "192", "256", "384", "512", "768")
EMBEDS = (16, 32, 64, 128)
BATCHES = (16, 32, 64)
WINDOWS = (50, 100, 200)


def suggest(trial: Any) -> dict[str, Any]:
    """A recipe for `trial` (an optuna.Trial): TrainConfig fields and values."""
    width = trial.suggest_categorical("hidden", WIDTHS)
    return {
        "cell": trial.suggest_categorical("cell", CELLS),
        "num_layers": trial.suggest_categorical("layers", LAYERS),
        "hidden_size": None if width == "sized" else int(width),
        "embed_size": trial.suggest_categorical("embed", EMBEDS),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "weight_decay": trial.suggest_float("weight_decay", 1e-3, 1.0, log=True),
        "lr": trial.suggest_float("lr", 1e-3, 2e-2, log=True),
        "batch_size": trial.suggest_categorical("batch", BATCHES),
        "seq_len": trial.suggest_categorical("window", WINDOWS),
    }


def default_params() -> dict[str, Any]:
    """The default recipe as the search space's parameters (the first trial of every study)."""
    d = {f.name: f.default for f in fields(TrainConfig)}
    return {
        "cell": d["cell"],
        "layers": d["num_layers"],
        "hidden": "sized" if d["hidden_size"] is None else str(d["hidden_size"]),
        "embed": d["embed_size"],
        "dropout": d["dropout"],
        "weight_decay": d["weight_decay"],
        "lr": d["lr"],
        "batch": d["batch_size"],
        "window": d["seq_len"],
    }


# TrainConfig field → `charrnn train` flag, for the best trial's command line
FLAGS = {
    "cell": "--cell",
    "num_layers": "--layers",
    "hidden_size": "--hidden",
    "embed_size": "--embed",
    "dropout": "--dropout",
    "weight_decay": "--weight-decay",
    "lr": "--lr",
    "batch_size": "--batch-size",
    "seq_len": "--seq-len",
}


def command_line(config: TrainConfig) -> str:
    """The `charrnn train` command that runs `config`'s recipe again (its width as trained)."""
    recipe = " ".join(f"{flag} {getattr(config, name)}" for name, flag in FLAGS.items())
    corpus = " ".join(shlex.quote(path) for path in config.corpus)
    return f"charrnn train {corpus} {recipe} --max-minutes {config.max_minutes:g} --seed {config.seed}"
