"""`charrnn sample` end to end: find the checkpoint, prepare the prime, stream text to stdout."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import torch

from charrnn.data.text import decode_utf8, read_bytes
from charrnn.data.vocab import Vocabulary, describe_chars
from charrnn.errors import ConfigError, VocabularyError
from charrnn.generate.sampling import SampleConfig, sample_pieces
from charrnn.model.checkpoint import default_checkpoint, load_model
from charrnn.model.network import CharRNN
from charrnn.runtime import choose_device

FLUSH_SECONDS = 0.02  # stream promptly without a system call per character


def read_prime(prime: str | None, prime_file: Path | None) -> str:
    if prime is not None and prime_file is not None:
        raise ConfigError("give --prime or --prime-file, not both")
    if prime_file is None:
        return prime or ""
    return decode_utf8(read_bytes(prime_file, what="prime file"), str(prime_file))


def known_prime(prime: str, vocab: Vocabulary, skip_unknown: bool, warn: Callable[[str], None]) -> str:
    unknown = vocab.unknown_chars(prime)
    if not unknown:
        return prime
    if not skip_unknown:
        raise VocabularyError(
            f"the prime has {len(unknown)} character(s) the model does not know: "
            f"{describe_chars(unknown)} (add --skip-unknown to drop them)"
        )
    kept = "".join(c for c in prime if c not in set(unknown))
    warn(
        f"dropped {len(prime) - len(kept)} prime character(s) outside the vocabulary: "
        f"{describe_chars(unknown)}"
    )
    return kept


def write_samples(
    *,
    checkpoint: Path | None,
    prime: str | None,
    prime_file: Path | None,
    skip_unknown: bool,
    echo_prime: bool,
    seed: int | None,
    stop: str | None,
    device: str,
    config: SampleConfig,
    warn: Callable[[str], None],
    out: TextIO | None = None,
) -> None:
    out = out or sys.stdout
    if stop == "":
        raise ConfigError("--stop must not be empty")
    text_prime = read_prime(prime, prime_file)
    loaded = load_model(checkpoint or default_checkpoint(), choose_device(device))
    text_prime = known_prime(text_prime, loaded.vocab, skip_unknown, warn)
    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else int.from_bytes(os.urandom(8), "little") >> 1)
    try:
        _stream(out, loaded.model, loaded.vocab, text_prime, echo_prime, config, generator, stop)
    except BrokenPipeError:
        # The reader went away (`charrnn sample | head`): stop quietly, and keep Python from
        # complaining when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


def _stream(
    out: TextIO,
    model: CharRNN,
    vocab: Vocabulary,
    prime: str,
    echo_prime: bool,
    config: SampleConfig,
    generator: torch.Generator,
    stop: str | None,
) -> None:
    current, last_char = -1, "\n"
    last_flush = time.monotonic()
    for index, piece in sample_pieces(model, vocab, prime, config, generator, stop):
        if index != current:
            if config.num_samples > 1:
                newline = "" if last_char == "\n" else "\n"
                out.write(f"{newline}----- sample {index + 1} of {config.num_samples} -----\n")
            if echo_prime:
                out.write(prime)
            current = index
        out.write(piece)
        last_char = piece[-1:] or last_char
        now = time.monotonic()
        if now - last_flush >= FLUSH_SECONDS:
            out.flush()
            last_flush = now
    if last_char != "\n":
        out.write("\n")  # leave the terminal on a fresh line
    out.flush()
