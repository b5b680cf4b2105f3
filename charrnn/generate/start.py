"""Starting a sample: the checkpoint, the prime (given, from a file, or a new line), the seed.
`start_sampling` is what `charrnn sample` calls; cli/sample.py writes the pieces to stdout."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from charrnn.data.text import decode_utf8, read_bytes
from charrnn.data.vocab import Vocabulary, describe_chars
from charrnn.errors import ConfigError, VocabularyError
from charrnn.generate.sampling import SampleConfig, sample_pieces
from charrnn.model.checkpoint import LoadedModel, default_checkpoint, load_model
from charrnn.runtime import choose_device


@dataclass(frozen=True)
class Sampling:
    prime: str  # the prime as used: characters the model does not know dropped (--skip-unknown)
    pieces: Iterator[tuple[int, str]]  # (sample index, text), in printing order (sample_pieces)
    loaded: LoadedModel  # the model it samples from
    checkpoint: Path  # and its file


def start_sampling(
    config: SampleConfig,
    *,
    checkpoint: Path | None = None,
    prime: str | None = None,
    prime_file: Path | None = None,
    skip_unknown: bool = False,
    seed: int | None = None,
    stop: str | None = None,
    device: str = "cpu",
    warn: Callable[[str], None] = lambda message: None,
) -> Sampling:
    """Check the options, load the model and prepare the prime; generation starts as `pieces` is read."""
    if stop == "":
        raise ConfigError("--stop must not be empty")
    text_prime = read_prime(prime, prime_file)
    path = checkpoint or default_checkpoint()
    loaded = load_model(path, choose_device(device))
    text_prime = known_prime(text_prime, loaded.vocab, skip_unknown, warn)
    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else int.from_bytes(os.urandom(8), "little") >> 1)
    pieces = sample_pieces(loaded.model, loaded.vocab, text_prime, config, generator, stop)
    return Sampling(text_prime, pieces, loaded, path)


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
