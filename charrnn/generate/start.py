"""Starting a sample from a loaded model: the prime (given, from a file, or a new line), its
unknown characters, the seed. `charrnn.Model.start_sampling` calls `start_sampling`; cli/sample.py
writes the pieces to stdout."""

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
from charrnn.model.checkpoint import LoadedModel
from charrnn.options import FLAGS, Names


@dataclass(frozen=True)
class Sampling:
    prime: str  # the prime as used: characters the model does not know dropped (skip_unknown)
    seed: int  # the seed the text is drawn with (given, or chosen at random): it reproduces the text
    pieces: Iterator[tuple[int, str]]  # (sample index, text), in printing order (sample_pieces)


def random_seed() -> int:
    """A seed for a sample given none: random, and reported so that the sample can be repeated;
    under 2**53, so that JavaScript (the page of `charrnn serve`) holds it exactly."""
    return int.from_bytes(os.urandom(8), "little") >> 11


def start_sampling(
    loaded: LoadedModel,
    config: SampleConfig,
    *,
    prime: str = "",
    seed: int | None = None,
    stop: str | None = None,
    skip_unknown: bool = False,
    warn: Callable[[str], None] = lambda message: None,
    names: Names = FLAGS,
) -> Sampling:
    """Check the stop text and the prime (errors name them as `names` do); generation starts as
    `pieces` is read."""
    if stop == "":
        raise ConfigError(f"{names('stop')} must not be empty")
    prime = known_prime(prime, loaded.vocab, skip_unknown, warn, names)
    seed = random_seed() if seed is None else seed
    generator = torch.Generator()
    try:
        generator.manual_seed(seed)
    except ValueError:  # outside what a 64-bit seed holds
        raise ConfigError(f"{names('seed')} must be in [-2**63, 2**64), not {seed}") from None
    return Sampling(prime, seed, sample_pieces(loaded.network, loaded.vocab, prime, config, generator, stop))


def read_prime(prime: str | None, prime_file: Path | None) -> str:
    if prime is not None and prime_file is not None:
        raise ConfigError("give --prime or --prime-file, not both")
    if prime_file is None:
        return prime or ""
    return decode_utf8(read_bytes(prime_file, what="prime file"), str(prime_file))


def known_prime(
    prime: str, vocab: Vocabulary, skip_unknown: bool, warn: Callable[[str], None], names: Names
) -> str:
    unknown = vocab.unknown_chars(prime)
    if not unknown:
        return prime
    if not skip_unknown:
        raise VocabularyError(
            f"the prime has {len(unknown)} character(s) the model does not know: "
            f"{describe_chars(unknown)} ({names.to_drop('skip_unknown')})"
        )
    kept = "".join(c for c in prime if c not in set(unknown))
    warn(
        f"dropped {len(prime) - len(kept)} prime character(s) outside the vocabulary: "
        f"{describe_chars(unknown)}"
    )
    return kept
