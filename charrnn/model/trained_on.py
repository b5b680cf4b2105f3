"""The corpus a checkpoint was trained on, found again: its file checked unchanged, then split into
the training and validation parts exactly as training split it.

perplexity measures the validation part, visualize shows its start, and sample --novelty looks
for the sample in the training part; each says what to do instead when the corpus is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charrnn.data.corpus import Fingerprint, content_key, describe_change, load_corpus, same_files
from charrnn.data.sources import describe_corpus
from charrnn.errors import CorpusError
from charrnn.model.checkpoint import LoadedModel


@dataclass(frozen=True)
class TrainedOn:
    """The two parts of a checkpoint's corpus, as ids in the checkpoint's vocabulary."""

    train: np.ndarray
    validation: np.ndarray
    files: tuple[Fingerprint, ...]
    name: str  # for people: "corpus.txt", "poems/ (12 files)"
    key: str  # names what is cached about it (content_key)


def trained_on(loaded: LoadedModel, checkpoint: Path, instead: str) -> TrainedOn:
    """The corpus `loaded` was trained on; a CorpusError ending in `instead` (what the user can do
    without it, e.g. "give a FILE to measure") if the checkpoint does not name it, or a file of
    it is gone or changed."""
    record = loaded.checkpoint.corpus
    if record is None:
        raise CorpusError(f"{checkpoint} does not say which corpus it was trained on: {instead}")
    gone = [f.path for f in record.files if not Path(f.path).is_file()]
    if gone:
        more = f" and {len(gone) - 1} more" if len(gone) > 1 else ""
        raise CorpusError(
            f"{checkpoint} was trained on {gone[0]}{more}, which is not there any more: {instead}"
        )

    # The content first: a changed file may hold characters the model does not know, and
    # "it has changed" is the news, not those characters.
    def unchanged(current: tuple[Fingerprint, ...]) -> None:
        if not same_files(record.files, current):
            changed = describe_change(record.files, current)
            raise CorpusError(
                f"the corpus has changed since {checkpoint} was trained on it ({changed}): {instead}"
            )

    paths = [f.path for f in record.files]
    corpus = load_corpus(paths, loaded.vocab, val_frac=record.val_frac, check_files=unchanged)
    name = describe_corpus(record.sources, len(record.files))
    key = content_key(record.files, record.val_frac)
    return TrainedOn(*corpus.split(), record.files, name, key)
