"""What general-purpose compressors reach on the same text: bits per character of gzip, bz2, lzma.

A model's bits/char means most next to these: the standard library's compressors, fed the text's
UTF-8 bytes chunk by chunk (bounded memory), at their strongest settings.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from typing import Protocol


class _Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self) -> bytes: ...


class CompressorBaselines:
    """Feed text with `add`; `bits_per_char()` once the whole text went through."""

    NAMES = ("gzip", "bz2", "lzma")

    def __init__(self) -> None:
        self._compressors: dict[str, _Compressor] = {
            "gzip": zlib.compressobj(9, zlib.DEFLATED, 31),  # wbits 31: the gzip container
            "bz2": bz2.BZ2Compressor(9),
            "lzma": lzma.LZMACompressor(preset=6),
        }
        self._sizes = dict.fromkeys(self.NAMES, 0)
        self.chars = 0

    def add(self, text: str) -> None:
        data = text.encode("utf-8", errors="surrogatepass")
        self.chars += len(text)
        for name, compressor in self._compressors.items():
            self._sizes[name] += len(compressor.compress(data))

    def bits_per_char(self) -> dict[str, float]:
        """Compressed size in bits over characters read; ends the compressors."""
        for name, compressor in self._compressors.items():
            self._sizes[name] += len(compressor.flush())
        return {name: 8 * size / max(self.chars, 1) for name, size in self._sizes.items()}
