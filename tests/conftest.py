"""Shared fixtures: one CPU thread, tiny corpora, tiny configs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest_helpers import PHRASE, tiny_config, train_tiny

from charrnn.train.config import TrainConfig

torch.set_num_threads(1)

__all__ = ["PHRASE"]


@pytest.fixture(scope="session", autouse=True)
def corpus_cache_in_tmp(tmp_path_factory) -> None:
    """Big-corpus caches made by tests (and their subprocesses) go to a temporary directory."""
    os.environ["CHARRNN_CACHE_DIR"] = str(tmp_path_factory.mktemp("corpus-cache"))


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


@pytest.fixture(scope="session")
def overfit_dir(tmp_path_factory) -> Path:
    """A tiny model trained until it knows PHRASE by heart; its checkpoint directory."""
    return train_tiny(
        tmp_path_factory.mktemp("overfit"),
        hidden_size=64,
        seq_len=32,
        lr=1e-2,
        max_steps=300,
        eval_every=300,
        log_every=50,
        warmup_steps=10,
    )
