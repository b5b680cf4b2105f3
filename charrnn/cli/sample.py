"""`charrnn sample`: its options, and the text streamed to stdout as it is generated."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, TextIO

import typer

from charrnn.cli.output import CheckpointOption, tell, user_errors

FLUSH_SECONDS = 0.02  # stream promptly without a system call per character


def sample_command(
    checkpoint: CheckpointOption = None,
    length: Annotated[int, typer.Option(help="Characters to generate, not counting the prime.")] = 1000,
    temperature: Annotated[
        float, typer.Option(help="Softmax temperature; 0 = greedy (always the likeliest character).")
    ] = 0.8,
    top_k: Annotated[int | None, typer.Option(help="Sample only among the K likeliest characters.")] = None,
    top_p: Annotated[
        float | None, typer.Option(help="Sample only within the smallest set of mass P (nucleus).")
    ] = None,
    prime: Annotated[
        str | None, typer.Option(help="Text to start from (newlines and any Unicode allowed).")
    ] = None,
    prime_file: Annotated[Path | None, typer.Option(help="Read the prime from this UTF-8 file.")] = None,
    echo_prime: Annotated[
        bool, typer.Option("--echo-prime/--no-echo-prime", help="Print the prime before the sample.")
    ] = True,
    skip_unknown: Annotated[
        bool, typer.Option("--skip-unknown", help="Drop prime characters the model does not know.")
    ] = False,
    seed: Annotated[
        int | None, typer.Option(help="Random seed: the same seed gives the same text (default: random).")
    ] = None,
    num_samples: Annotated[int, typer.Option(help="Independent samples, generated as one batch.")] = 1,
    stop: Annotated[
        str | None, typer.Option(help="End a sample after the first occurrence of this text.")
    ] = None,
    device: Annotated[
        str, typer.Option(help="cpu (default: batch-1 steps are latency-bound), cuda, mps, auto.")
    ] = "cpu",
) -> None:
    """Generate text from a checkpoint, streamed to stdout as it is generated.

    Example: charrnn sample --prime "ROMEO:" --length 500 --temperature 0.7 --seed 1
    """
    with user_errors():
        from charrnn.api import load
        from charrnn.generate.sampling import SampleConfig
        from charrnn.generate.start import read_prime

        config = SampleConfig(
            length=length, temperature=temperature, top_k=top_k, top_p=top_p, num_samples=num_samples
        )
        text_prime = read_prime(prime, prime_file)
        sampling = load(checkpoint, device).start_sampling(
            config, prime=text_prime, seed=seed, stop=stop, skip_unknown=skip_unknown, warn=tell
        )
        try:
            write_samples(sys.stdout, sampling.pieces, sampling.prime if echo_prime else "", num_samples)
        except BrokenPipeError:
            # The reader went away (`charrnn sample | head`): stop quietly, and keep Python from
            # complaining when it flushes stdout at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def write_samples(out: TextIO, pieces: Iterable[tuple[int, str]], prime: str, num_samples: int) -> None:
    """Each sample after `prime` (and, with several, a header line), flushed every 20 ms."""
    current, last_char = -1, "\n"
    last_flush = time.monotonic()
    for index, piece in pieces:
        if index != current:
            if num_samples > 1:
                newline = "" if last_char == "\n" else "\n"
                out.write(f"{newline}----- sample {index + 1} of {num_samples} -----\n")
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
