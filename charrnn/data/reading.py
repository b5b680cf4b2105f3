"""A text to measure as character ids, chunk by chunk, in bounded memory (a file's chunks come
from data/text.py, decoded incrementally). Characters outside the model's vocabulary are either
skipped and counted, or fatal with their character positions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from charrnn.data.vocab import Vocabulary, describe_chars
from charrnn.errors import VocabularyError
from charrnn.options import FLAGS, UNKNOWN_POLICIES, Names, check_choice


@dataclass
class TextStats:
    """What reading a text found, filled in as its chunks go by."""

    chars: int = 0  # every character read, known or not
    skipped: int = 0  # characters outside the vocabulary, dropped
    skipped_chars: set[str] = field(default_factory=set)


def text_ids(
    chunks: Iterable[str],
    name: str,
    vocab: Vocabulary,
    unknown: str,
    stats: TextStats,
    on_text: Callable[[str], None] | None = None,
    names: Names = FLAGS,
) -> Iterator[np.ndarray]:
    """Ids of the known characters of a text given in chunks, a chunk at a time; `stats` counts
    what was read, and `on_text` sees every chunk of text as read (e.g. the compressor baselines).
    The policy is checked before the generator is returned, so a bad one fails at once; errors
    name the `unknown` setting as `names` do."""
    check_choice(names("unknown"), unknown, UNKNOWN_POLICIES)
    return _text_ids(chunks, name, vocab, unknown, stats, on_text, names.to_drop("unknown", "skip"))


def _text_ids(
    chunks: Iterable[str],
    name: str,
    vocab: Vocabulary,
    unknown: str,
    stats: TextStats,
    on_text: Callable[[str], None] | None,
    advice: str,
) -> Iterator[np.ndarray]:
    for text in chunks:
        ids = known_ids(text, vocab, unknown, stats, name, advice)
        if on_text is not None:
            on_text(text)
        if len(ids):
            yield ids


def known_ids(
    text: str,
    vocab: Vocabulary,
    unknown: str,
    stats: TextStats,
    name: str,
    advice: str = FLAGS.to_drop("unknown", "skip"),
) -> np.ndarray:
    """Ids of the known characters of `text`, the next piece of a text called `name`: characters
    outside the vocabulary skipped and counted in `stats`, or (unknown="error") a VocabularyError
    naming them and their character positions in the whole text, ending with `advice`."""
    ids, unknown_at = vocab.encode_known(text)
    if len(unknown_at):
        if unknown == "error":
            raise unknown_characters_error(name, text, unknown_at, offset=stats.chars, advice=advice)
        stats.skipped += len(unknown_at)
        stats.skipped_chars.update(text[i] for i in unknown_at.tolist())
    stats.chars += len(text)
    return ids


def unknown_characters_error(
    name: str,
    text: str,
    unknown_at: np.ndarray,
    offset: int = 0,
    advice: str = FLAGS.to_drop("unknown", "skip"),
) -> VocabularyError:
    """The characters of `text` at `unknown_at` (positions from `offset`), listed with where they are."""
    found = "".join(sorted({text[i] for i in unknown_at.tolist()}))
    where = ", ".join(str(offset + i) for i in unknown_at[:10].tolist())
    more = f" and {len(unknown_at) - 10} more" if len(unknown_at) > 10 else ""
    return VocabularyError(
        f"{name}: character(s) outside the model's vocabulary: {describe_chars(found)} at "
        f"character position(s) {where}{more} ({advice})"
    )
