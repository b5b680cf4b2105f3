"""`charrnn sample`: its options, and the text streamed to stdout as it is generated."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from charrnn.cli.output import CheckpointOption, tell, user_errors
from charrnn.options import FLUSH_SECONDS

if TYPE_CHECKING:
    from charrnn.measure.novelty import Novelty



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
    beam: Annotated[
        int | None,
        typer.Option(
            help="Beam search with K hypotheses: the most probable text they find, printed when found "
            "(deterministic: temperature, seed do not apply; never less likely than greedy)."
        ),
    ] = None,
    device: Annotated[
        str, typer.Option(help="cpu (default: batch-1 steps are latency-bound), cuda, mps, auto.")
    ] = "cpu",
    novelty: Annotated[
        bool,
        typer.Option(
            "--novelty",
            help="Then say on stderr how much of each sample is copied from the training text "
            "(its longest verbatim span, and the share of its 8-grams found there).",
        ),
    ] = False,
) -> None:
    """Generate text from a checkpoint, streamed to stdout as it is generated.

    Example: charrnn sample --prime "ROMEO:" --length 500 --temperature 0.7 --seed 1
    """
    with user_errors():
        from charrnn.api import load
        from charrnn.generate.sampling import SampleConfig
        from charrnn.generate.start import read_prime
        from charrnn.measure.novelty import training_index

        config = SampleConfig(
            length=length,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            num_samples=num_samples,
            beam=beam,
        )
        text_prime = read_prime(prime, prime_file)
        model = load(checkpoint, device)
        sampling = model.start_sampling(
            config, prime=text_prime, seed=seed, stop=stop, skip_unknown=skip_unknown, warn=tell
        )
        index = training_index(model.loaded, model.path, tell) if novelty else None
        samples: dict[int, list[str]] = {}
        pieces = _kept(sampling.pieces, samples) if index is not None else sampling.pieces
        try:
            write_samples(sys.stdout, pieces, sampling.prime if echo_prime else "", num_samples)
        except BrokenPipeError:
            # The reader went away (`charrnn sample | head`): stop quietly, and keep Python from
            # complaining when it flushes stdout at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        if index is not None:
            for k in sorted(samples):
                which = f"sample {k + 1} of {num_samples}: " if num_samples > 1 else ""
                tell(which + describe_novelty(index.novelty("".join(samples[k])), index.path))


def _kept(pieces: Iterable[tuple[int, str]], samples: dict[int, list[str]]) -> Iterator[tuple[int, str]]:
    """The pieces as they come, each also kept in `samples` under its sample's index."""
    for index, piece in pieces:
        samples.setdefault(index, []).append(piece)
        yield index, piece


def describe_novelty(novelty: Novelty, corpus: str) -> str:
    """One line: the longest copied span and the share of n-grams found in the training text."""
    if novelty.longest == 0:
        copied = "no character of the sample is in the training text"
    else:
        copied = (
            f"its longest span found verbatim in the training text of {corpus} is {novelty.longest:,} "
            f"characters, {novelty.span!r} (at character {novelty.longest_at + 1:,} of the sample)"
        )
    share = novelty.share_found
    ngrams = (
        f"{novelty.ngrams_found:,} of its {novelty.ngrams:,} {novelty.n}-grams ({share:.1%}) occur there"
        if share is not None
        else f"it is shorter than {novelty.n} characters"
    )
    return f"novelty: {copied}; {ngrams}"


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
