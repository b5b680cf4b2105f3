"""Shared fixtures: one CPU thread, tiny corpora, tiny configs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest_helpers import PHRASE, tiny_config

from charrnn.train_config import TrainConfig

torch.set_num_threads(1)

__all__ = ["PHRASE"]


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(PHRASE * 40, encoding="utf-8")
    return path


@pytest.fixture
def make_config(tiny_corpus: Path, tmp_path: Path) -> Callable[..., TrainConfig]:
    def make(**overrides: Any) -> TrainConfig:
        corpus = overrides.pop("corpus", tiny_corpus)
        checkpoint_dir = overrides.pop("checkpoint_dir", tmp_path / "ckpt")
        return tiny_config(Path(corpus), Path(checkpoint_dir), **overrides)

    return make
