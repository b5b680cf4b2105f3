"""Reading a text to measure, in bounded memory: a file or stdin, chunk by chunk, as character ids.

Bytes are decoded incrementally (strict UTF-8, a leading byte-order mark dropped), so a file of
any size is held one chunk at a time. Characters outside the model's vocabulary are either
skipped and counted, or fatal with their character positions.
"""

from __future__ import annotations

import codecs
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from charrnn.corpus import BOM, not_utf8_error
from charrnn.errors import ConfigError, CorpusError, VocabularyError
from charrnn.vocab import Vocabulary, describe_chars

STDIN = "-"
CHUNK_BYTES = 1 << 20
HEAD_BYTES = 8  # enough to recognise a compressed file, an archive or UTF-16 (corpus.NOT_TEXT)
UNKNOWN_POLICIES = ("skip", "error")


@dataclass
class TextStats:
    """What reading a text found, filled in as its chunks go by."""

    chars: int = 0  # every character read, known or not
    utf8_bytes: int = 0
    skipped: int = 0  # characters outside the vocabulary, dropped
    skipped_chars: set[str] = field(default_factory=set)


def _open(source: str) -> BinaryIO:
    if source == STDIN:
        return sys.stdin.buffer
    path = Path(source)
    if not path.exists():
        raise CorpusError(f"file not found: {source}")
    if path.is_dir():
        raise CorpusError(f"{source} is a directory, not a text file")
    try:
        return path.open("rb")
    except OSError as e:
        raise CorpusError(f"cannot read {source}: {e.strerror or e}") from None


def read_text_chunks(source: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """Decoded text of a file (or stdin for "-"), a chunk at a time; raw bytes counted exactly."""
    name = "stdin" if source == STDIN else source
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    stream = _open(source)
    consumed = 0  # bytes handed to the decoder before this chunk
    first = True
    head = b""  # the first bytes: what a file that does not decode seems to be
    try:
        while True:
            try:
                data = stream.read(chunk_bytes)
            except OSError as e:
                raise CorpusError(f"cannot read {name}: {e.strerror or e}") from None
            if len(head) < HEAD_BYTES:
                head = (head + data)[:HEAD_BYTES]
            final = not data
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(data, final=final)
            except UnicodeDecodeError as e:
                at = consumed - pending + e.start
                if len(head) < HEAD_BYTES and consumed + len(data) == len(head):  # all read so far
                    head = (head + stream.read(HEAD_BYTES - len(head)))[:HEAD_BYTES]
                raise not_utf8_error(name, head, f"invalid byte at byte offset {at}") from None
            consumed += len(data)
            if first and text:
                text = text[1:] if text.startswith(BOM) else text
                first = False
            if text:
                yield text
            if final:
                return
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


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
    if unknown not in UNKNOWN_POLICIES:
        raise ConfigError(f"--unknown must be one of {', '.join(UNKNOWN_POLICIES)}, not {unknown!r}")
    name = "stdin" if source == STDIN else source
    for text in read_text_chunks(source, chunk_bytes):
        ids, unknown_at = vocab.encode_known(text)
        if len(unknown_at):
            if unknown == "error":
                found = "".join(sorted({text[i] for i in unknown_at.tolist()}))
                where = ", ".join(str(stats.chars + i) for i in unknown_at[:10].tolist())
                more = f" and {len(unknown_at) - 10} more" if len(unknown_at) > 10 else ""
                raise VocabularyError(
                    f"{name}: character(s) outside the model's vocabulary: {describe_chars(found)} at "
                    f"character position(s) {where}{more} (--unknown skip drops them)"
                )
            stats.skipped += len(unknown_at)
            stats.skipped_chars.update(text[i] for i in unknown_at.tolist())
        if on_text is not None:
            on_text(text)
        stats.chars += len(text)
        stats.utf8_bytes += len(text.encode("utf-8", errors="surrogatepass"))
        if len(ids):
            yield ids
