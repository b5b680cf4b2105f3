"""Helpers shared by tests: the tiny corpus, tiny configs, a loss-recording observer."""

from pathlib import Path
from typing import Any

from charrnn.train.config import TrainConfig
from charrnn.train.loop import train
from charrnn.train.observers import TrainObserver

PHRASE = "the red deer runs; the red dear waits.\n"

TINY: dict[str, Any] = {
    "hidden_size": 32,
    "embed_size": 16,
    "batch_size": 4,
    "seq_len": 16,
    "epochs": 100,
    "max_steps": 12,
    "eval_every": 1000,
    "log_every": 1,
    "sample_chars": 0,
    "warmup_steps": 2,
    "lr": 5e-3,
    "device": "cpu",
    "precision": "fp32",
    "threads": 1,
}


def tiny_config(corpus: Path, checkpoint_dir: Path, **overrides: Any) -> TrainConfig:
    return TrainConfig(corpus=str(corpus), checkpoint_dir=str(checkpoint_dir), **{**TINY, **overrides})


def train_tiny(root: Path, **overrides: Any) -> Path:
    """Train on PHRASE repeated, in `root`; returns the checkpoint directory."""
    corpus = root / "tiny.txt"
    corpus.write_text(PHRASE * 40, encoding="utf-8")
    train(tiny_config(corpus, root / "ck", **overrides))
    return root / "ck"


class LossRecorder(TrainObserver):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_log(self, record: dict[str, Any]) -> None:
        self.losses.append(record["train_loss"])
