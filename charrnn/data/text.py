"""UTF-8 text from files and stdin: strict decoding, a leading byte-order mark dropped, errors
that name the byte offset (or what the file seems to be instead), and chunked reading in
bounded memory for texts of any size."""

from __future__ import annotations

import codecs
import sys
from collections.abc import Generator
from pathlib import Path
from typing import BinaryIO

from charrnn.errors import CorpusError
from charrnn.files import require_file

BOM = "\ufeff"
STDIN = "-"
CHUNK_BYTES = 1 << 20
HEAD_BYTES = 8  # enough to recognise a compressed file, an archive or UTF-16 (NOT_TEXT)

# Files that are not UTF-8 text but are often passed by mistake, by their first bytes; consulted
# only once the bytes have failed to decode (a text may well begin with "BZh").
NOT_TEXT = {
    b"\x1f\x8b": "gzip-compressed: decompress it first",
    b"BZh": "bzip2-compressed: decompress it first",
    b"\xfd7zXZ": "xz-compressed: decompress it first",
    b"PK\x03\x04": "a zip archive: extract it first",
    b"%PDF": "a PDF document: extract its text first",
    b"\xff\xfe": "UTF-16 text: convert it, e.g. iconv -f UTF-16 -t UTF-8",
    b"\xfe\xff": "UTF-16 text: convert it, e.g. iconv -f UTF-16 -t UTF-8",
}


def read_bytes(path: Path, what: str = "corpus") -> bytes:
    """The bytes of a text file; `what` names it in errors ("corpus", "prime file")."""
    require_file(path, what, CorpusError)
    try:
        return path.read_bytes()
    except OSError as e:
        raise CorpusError(f"cannot read {what} {path}: {e.strerror or e}") from None


def decode_utf8(data: bytes, source: str) -> str:
    """Strict UTF-8 decoding with a leading byte-order mark removed."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        where = f"byte 0x{data[e.start]:02x} at byte offset {e.start}"
        raise not_utf8_error(source, data[:8], where) from None
    return text[1:] if text.startswith(BOM) else text


def not_utf8_error(source: str, head: bytes, where: str) -> CorpusError:
    """The error for bytes that do not decode: what the file seems to be (by `head`, its first
    bytes) and what to do, else where the first bad byte is."""
    for magic, what in NOT_TEXT.items():
        if head.startswith(magic):
            return CorpusError(f"{source} is not UTF-8 text: it looks {what}")
    return CorpusError(f"{source} is not valid UTF-8: {where}")


def open_source(source: str) -> BinaryIO:
    if source == STDIN:
        return sys.stdin.buffer
    path = Path(source)
    require_file(path, "file", CorpusError)
    try:
        return path.open("rb")
    except OSError as e:
        raise CorpusError(f"cannot read {source}: {e.strerror or e}") from None


def read_text_chunks(source: str, chunk_bytes: int = CHUNK_BYTES) -> Generator[str, None, None]:
    """Decoded text of a file (or stdin for "-"), a chunk at a time; raw bytes counted exactly."""
    name = "stdin" if source == STDIN else source
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    stream = open_source(source)
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
            pending = decoder.getstate()[0]  # bytes of a character begun in the previous chunk
            try:
                text = decoder.decode(data, final=final)
            except UnicodeDecodeError as e:
                at = consumed - len(pending) + e.start
                where = f"byte 0x{(pending + data)[e.start]:02x} at byte offset {at}"
                if len(head) < HEAD_BYTES and consumed + len(data) == len(head):  # all read so far
                    head = (head + stream.read(HEAD_BYTES - len(head)))[:HEAD_BYTES]
                raise not_utf8_error(name, head, where) from None
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


def read_text_head(source: str, max_chars: int, chunk_bytes: int = 1 << 16) -> tuple[str, bool]:
    """The first `max_chars` characters of a file (or stdin), and whether there were more; only
    about that much is read, whatever the file's size."""
    parts, count = [], 0
    chunks = read_text_chunks(source, chunk_bytes)
    try:
        for text in chunks:
            parts.append(text)
            count += len(text)
            if count > max_chars:
                return "".join(parts)[:max_chars], True
    finally:
        chunks.close()  # the file is closed now, not when the generator is collected
    return "".join(parts), False
