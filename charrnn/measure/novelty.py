"""Does a sample write or remember? The longest span of it copied verbatim from the text the
model was trained on, and the share of its n-grams (8 characters) found there.

Both come from one suffix index of the training part of the corpus (data/suffixes.py), built
once and cached: at each position of the sample, the longest stretch from there that occurs in
the training text. An 8-gram occurs there exactly when that stretch is 8 characters or more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charrnn.data.cache import entry_name
from charrnn.data.suffixes import SuffixIndex, cached_index
from charrnn.data.vocab import Vocabulary
from charrnn.model.checkpoint import LoadedModel
from charrnn.model.trained_on import trained_on

NGRAM = 8


@dataclass(frozen=True)
class Novelty:
    chars: int  # characters of the sample looked at
    longest: int  # the longest span of it found verbatim in the training text
    longest_at: int  # where that span starts in the sample
    corpus_at: int  # where one copy of it starts in the training text
    span: str
    n: int  # the length of the n-grams counted
    ngrams: int  # n-grams in the sample
    ngrams_found: int  # of them, those that occur in the training text

    @property
    def share_found(self) -> float | None:
        return self.ngrams_found / self.ngrams if self.ngrams else None


@dataclass(frozen=True)
class TrainingIndex:
    """The training part of a checkpoint's corpus, indexed."""

    path: str
    vocab: Vocabulary
    index: SuffixIndex

    @property
    def chars(self) -> int:
        return len(self.index.ids)

    def novelty(self, text: str, n: int = NGRAM) -> Novelty:
        """How much of `text` (characters of the vocabulary, e.g. a sample) is in the training text."""
        ids = self.vocab.encode(text)
        matches = self.index.matches(ids)
        at = int(np.argmax(matches.lengths)) if len(ids) else 0
        longest = int(matches.lengths[at]) if len(ids) else 0
        ngrams = max(0, len(ids) - n + 1)
        return Novelty(
            chars=len(ids),
            longest=longest,
            longest_at=at,
            corpus_at=int(matches.where[at]) if longest else 0,
            span=text[at : at + longest],
            n=n,
            ngrams=ngrams,
            ngrams_found=int(np.count_nonzero(matches.lengths[:ngrams] >= n)),
        )


def training_index(
    loaded: LoadedModel, checkpoint: Path, tell: Callable[[str], None] = lambda message: None
) -> TrainingIndex:
    """The training text of the checkpoint's corpus, indexed (built once, then cached)."""
    corpus = trained_on(loaded, checkpoint, "--novelty looks for the sample in it")
    name = f"{entry_name(corpus.key, loaded.vocab.chars)}-train{len(corpus.train)}"

    def building() -> None:
        tell(f"indexing the {len(corpus.train):,} characters of {corpus.name}'s training part (once)…")

    return TrainingIndex(corpus.name, loaded.vocab, cached_index(corpus.train, name, building))
