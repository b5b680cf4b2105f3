"""The corpus a checkpoint was trained on, found again: its file checked unchanged, then split into
the training and validation parts exactly as training split it.

perplexity measures the validation part, visualize shows its start, and sample --novelty looks
for the sample in the training part; each says what to do instead when the corpus is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charrnn.data.corpus import Fingerprint, fingerprint_file, load_corpus, split_train_val
from charrnn.errors import CorpusError
from charrnn.model.checkpoint import LoadedModel


@dataclass(frozen=True)
class TrainedOn:
    """The two parts of a checkpoint's corpus, as ids in the checkpoint's vocabulary."""

    train: np.ndarray
    validation: np.ndarray
    fingerprint: Fingerprint

    @property
    def path(self) -> str:
        return self.fingerprint.path


def trained_on(loaded: LoadedModel, checkpoint: Path, instead: str) -> TrainedOn:
    """The corpus `loaded` was trained on; a CorpusError ending in `instead` (what the user can do
    without it, e.g. "give a FILE to measure") if the checkpoint does not name it, or the file is
    gone or changed."""
    record = loaded.checkpoint.corpus
    if record is None:
        raise CorpusError(f"{checkpoint} does not say which corpus it was trained on: {instead}")
    stored = record.fingerprint
    if not Path(stored.path).is_file():
        raise CorpusError(
            f"{checkpoint} was trained on {stored.path}, which is not there any more: {instead}"
        )
    # The content first: a changed file may hold characters the model does not know, and
    # "it has changed" is the news, not those characters.
    current = fingerprint_file(Path(stored.path))
    if not current.same_content(stored):
        raise CorpusError(f"{stored.path} has changed since {checkpoint} was trained on it: {instead}")
    corpus = load_corpus(Path(stored.path), loaded.vocab, fingerprint=current)
    train, val = split_train_val(corpus.ids, record.val_frac)
    return TrainedOn(train=train, validation=val, fingerprint=stored)
