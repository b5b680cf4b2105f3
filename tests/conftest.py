"""Shared fixtures: one CPU thread, tiny corpora, tiny configs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from charrnn.train import TrainConfig

torch.set_num_threads(1)

PHRASE = "the red deer runs; the red dear waits.\n"


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(PHRASE * 40, encoding="utf-8")
    return path


@pytest.fixture
def make_config(tiny_corpus: Path, tmp_path: Path) -> Callable[..., TrainConfig]:
    def make(**overrides: Any) -> TrainConfig:
        values: dict[str, Any] = {
            "corpus": str(tiny_corpus),
            "checkpoint_dir": str(tmp_path / "ckpt"),
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
        values.update(overrides)
        return TrainConfig(**values)

    return make
