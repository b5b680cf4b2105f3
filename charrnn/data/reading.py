"""Reading a text to measure, in bounded memory: a file or stdin, chunk by chunk, as character ids.

Bytes are decoded incrementally (strict UTF-8, a leading byte-order mark dropped), so a file of
any size is held one chunk at a time. Characters outside the model's vocabulary are either
skipped and counted, or fatal with their character positions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from charrnn.data.text import CHUNK_BYTES, STDIN, read_text_chunks
from charrnn.data.vocab import Vocabulary, describe_chars
from charrnn.errors import VocabularyError
from charrnn.options import UNKNOWN_POLICIES, check_choice


@dataclass
class TextStats:
    """What reading a text found, filled in as its chunks go by."""

    chars: int = 0  # every character read, known or not
    skipped: int = 0  # characters outside the vocabulary, dropped
    skipped_chars: set[str] = field(default_factory=set)


def read_ids(
    source: str,
    vocab: Vocabulary,
    unknown: str,
    stats: TextStats,
    chunk_bytes: int = CHUNK_BYTES,
    on_text: Callable[[str], None] | None = None,
) -> Iterator[np.ndarray]:
    """Ids of a text's known characters, a chunk at a time; `stats` counts what was read, and
    `on_text` sees every chunk of text as read (e.g. the compressor baselines)."""
    check_choice("--unknown", unknown, UNKNOWN_POLICIES)
    name = "stdin" if source == STDIN else source
    for text in read_text_chunks(source, chunk_bytes):
        ids = known_ids(text, vocab, unknown, stats, name)
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
    advice: str = "--unknown skip drops them",
) -> np.ndarray:
    """Ids of the known characters of `text`, the next piece of a text called `name`: characters
    outside the vocabulary skipped and counted in `stats`, or (unknown="error") a VocabularyError
    naming them and their character positions in the whole text, ending with `advice`."""
    ids, unknown_at = vocab.encode_known(text)
    if len(unknown_at):
        if unknown == "error":
            found = "".join(sorted({text[i] for i in unknown_at.tolist()}))
            where = ", ".join(str(stats.chars + i) for i in unknown_at[:10].tolist())
            more = f" and {len(unknown_at) - 10} more" if len(unknown_at) > 10 else ""
            raise VocabularyError(
                f"{name}: character(s) outside the model's vocabulary: {describe_chars(found)} at "
                f"character position(s) {where}{more} ({advice})"
            )
        stats.skipped += len(unknown_at)
        stats.skipped_chars.update(text[i] for i in unknown_at.tolist())
    stats.chars += len(text)
    return ids
