"""charrnn from Python: `charrnn.load()` and the `Model` it returns.

This is the library the commands themselves call (`charrnn sample`, `perplexity`, `score`,
`info`) and `charrnn serve` answers with: a checkpoint loaded once, then sampled from and
measured as often as wanted. Every mistake a caller can make is raised as a `CharRNNError`
(`charrnn.errors`), with the message the command line prints.

    >>> import charrnn
    >>> model = charrnn.load("checkpoints/best.pt")
    >>> model.sample(length=200, prime="ROMEO:", seed=1)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ParamSpec

import torch

from charrnn.errors import CharRNNError
from charrnn.generate.sampling import SampleConfig
from charrnn.generate.start import Sampling, start_sampling
from charrnn.measure.config import DynamicConfig, MeasureConfig
from charrnn.measure.info import describe_checkpoint
from charrnn.measure.perplexity import PerplexityReport, TextResult, measure_perplexity, measure_string
from charrnn.measure.score import Scored, score_candidates
from charrnn.measure.surprise import GUESSES, CharSurprise, char_surprises
from charrnn.model.checkpoint import LoadedModel, load_model
from charrnn.model.network import CharRNN
from charrnn.model.paths import resolve_checkpoint
from charrnn.options import FLAGS, Names
from charrnn.runtime import choose_device, choose_precision

__all__ = ["CharRNNError", "CharSurprise", "Model", "Scored", "TextResult", "load"]


def load(checkpoint: str | Path | None = None, device: str = "cpu") -> Model:
    """Load a checkpoint: a `.pt` file, or a run directory (its best.pt, else last.pt); by
    default `checkpoints/`. `device` is cpu (the default: sampling one character at a time is
    bound by latency, not arithmetic), cuda, mps or auto.

    Raises CheckpointError for a missing, corrupt, unsafe or foreign file and ConfigError for an
    unknown device, with the message `charrnn` prints for them.
    """
    path = resolve_checkpoint(checkpoint)
    torch_device = choose_device(device)
    return Model(load_model(path, torch_device), path, torch_device)


P = ParamSpec("P")

SAMPLE_DOC = """Generate `length` characters after `prime` (the prime itself is not returned).

        temperature: 0 is greedy (always the likeliest character); top_k / top_p restrict each
        draw to the k likeliest characters / the smallest set of probability mass p. With no
        prime the text starts as after a new line. The same seed gives the same text, the
        text `charrnn sample --seed` prints; no seed draws a random one. The text ends early
        after the first occurrence of `stop` (included). Prime characters outside the
        vocabulary raise VocabularyError, or are dropped with `skip_unknown=True`; a value
        out of range raises ConfigError. `beam=K`: instead of drawing, the most probable text that
        K hypotheses find (deterministic; never less likely than greedy, temperature 0).
        """


def _joined(stream: Callable[P, Iterator[str]], doc: str) -> Callable[P, str]:
    """A method with `stream`'s parameters (written once, there) that returns its pieces joined."""

    @functools.wraps(stream)
    def joined(*args: P.args, **kwargs: P.kwargs) -> str:
        return "".join(stream(*args, **kwargs))

    joined.__name__ = joined.__qualname__ = "sample"
    joined.__doc__ = doc
    return joined


def _arguments(method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Every parameter of `method` (a bound method) as these arguments give it, defaults filled in;
    a TypeError for an argument it does not take, as a call would raise."""
    bound = inspect.signature(method).bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


class Model:
    """A trained character model, ready to sample from and to measure texts with.

    Made by `charrnn.load()`. It holds no state between calls: any number of samples and
    measurements may run one after another or, from several threads, side by side.
    """

    def __init__(self, loaded: LoadedModel, path: Path, device: torch.device, names: Names = FLAGS) -> None:
        self.loaded = loaded
        self.path = path  # the checkpoint file it was loaded from
        self.device = device
        self.names = names  # how its errors name a setting: the commands' flags, or keywords
        loaded.network.eval()  # for good: nothing here trains it

    def with_names(self, names: Names) -> Model:
        """The same model (nothing copied) whose errors name what a caller set as `names` do:
        `charrnn serve` names the fields of its requests (`KEYWORDS`: "skip_unknown", "context"),
        where the commands name their flags ("--skip-unknown", "--context")."""
        return Model(self.loaded, self.path, self.device, names)

    def __repr__(self) -> str:
        c = self.loaded.checkpoint.model_config
        return (
            f"<charrnn.Model {c.num_layers}×{c.hidden_size} {c.cell}, {self.loaded.vocab.size} characters, "
            f"from {self.path}, on {self.device}>"
        )

    @property
    def network(self) -> CharRNN:
        """The PyTorch module itself (in eval mode), for whoever wants to go further."""
        return self.loaded.network

    @property
    def vocabulary(self) -> str:
        """The characters the model knows, in id order (sorted, but for characters a fine-tuning
        appended); any other character is refused or skipped."""
        return self.loaded.vocab.chars

    @property
    def info(self) -> dict[str, Any]:
        """What the checkpoint holds, as plain data (the document `charrnn info --json` prints):
        model, vocabulary, corpus, training progress and validation."""
        return describe_checkpoint(self.loaded, self.path)

    # -- sampling -------------------------------------------------------------------------------
    def stream(
        self,
        length: int = SampleConfig.length,
        temperature: float = SampleConfig.temperature,
        top_k: int | None = None,
        top_p: float | None = None,
        prime: str = "",
        seed: int | None = None,
        stop: str | None = None,
        *,
        skip_unknown: bool = False,
        beam: int | None = None,
    ) -> Iterator[str]:
        """`sample()` piece by piece, as it is generated: a generator of text pieces (one character
        each today). The arguments are checked at once; each character is generated when the
        next piece is asked for, so stopping the iteration stops the generation (a beam search's
        text comes as one piece, once found)."""
        config = SampleConfig(length=length, temperature=temperature, top_k=top_k, top_p=top_p, beam=beam)
        sampling = self.start_sampling(config, prime=prime, seed=seed, stop=stop, skip_unknown=skip_unknown)
        return (piece for _, piece in sampling.pieces)

    sample = _joined(stream, SAMPLE_DOC)

    def samples(self, count: int, *args: Any, **kwargs: Any) -> list[str]:
        """`count` independent samples, generated side by side as one batch (`charrnn sample
        --num-samples`); the other arguments are those of `sample()` (not `beam`)."""
        options = _arguments(self.stream, *args, **kwargs)
        config = SampleConfig(
            length=options["length"],
            temperature=options["temperature"],
            top_k=options["top_k"],
            top_p=options["top_p"],
            num_samples=count,
            beam=options["beam"],
        )
        sampling = self.start_sampling(
            config, **{k: options[k] for k in ("prime", "seed", "stop", "skip_unknown")}
        )
        texts = [""] * count
        for index, piece in sampling.pieces:
            texts[index] += piece
        return texts

    def start_sampling(
        self,
        config: SampleConfig,
        *,
        prime: str = "",
        seed: int | None = None,
        stop: str | None = None,
        skip_unknown: bool = False,
        warn: Callable[[str], None] = lambda message: None,
    ) -> Sampling:
        """The general form the others use: a `Sampling` with the prime as used, the seed (the one
        drawn, if none was given) and the pieces of every sample as (sample index, text), sample 0
        character by character, the others whole at the end. `warn` hears of dropped prime
        characters."""
        return start_sampling(
            self.loaded,
            config,
            prime=prime,
            seed=seed,
            stop=stop,
            skip_unknown=skip_unknown,
            warn=warn,
            names=self.names,
        )

    # -- measuring ------------------------------------------------------------------------------
    def perplexity(
        self,
        text: str,
        *,
        unknown: str = "skip",
        segments: int = 1,
        baselines: bool = False,
        dynamic: DynamicConfig | None = None,
        precision: str = "fp32",
        streams: int | None = None,
    ) -> TextResult:
        """How well the model predicts `text`: every character after the first, the state carried
        across the whole text. The result has `nats_per_char`, `bits_per_char`, `perplexity`
        and `chars_scored` (and `baselines`: gzip, bz2 and lzma bits/char, if asked).

        unknown: characters outside the vocabulary are skipped and counted ("skip") or raise
        VocabularyError ("error"). segments=K > 1 scores K segments side by side, each after the
        1,024 characters before it (faster, a little approximate; `streams` is its old name);
        `dynamic` adds dynamic evaluation (`charrnn perplexity --dynamic`). Files, or the
        validation part of the training corpus: `perplexity_files`.
        """
        segments = segments if streams is None else streams
        config = MeasureConfig(
            segments=segments, unknown=unknown, baselines=baselines, precision=precision, dynamic=dynamic
        )
        config = replace(config, precision=choose_precision(config.precision, self.device))
        return measure_string(self.loaded, text, config, self.device, names=self.names)

    def perplexity_files(
        self, files: Sequence[str] = (), config: MeasureConfig | None = None
    ) -> PerplexityReport:
        """`charrnn perplexity`: the perplexity of text files ("-" = stdin), each and in total, or
        with none of the validation part of the corpus the model was trained on (if its files are
        still there, unchanged)."""
        return measure_perplexity(self.loaded, self.path, list(files), config or MeasureConfig(), self.device)

    measure = perplexity_files  # its old name

    def score(self, texts: Sequence[str], context: str = "") -> list[Scored]:
        """Rank `texts` by how probable the model finds each after `context` ("" = the start of a
        line), most probable first; each `Scored` has its text, rank, nats, bits and bits/char.
        Texts of any length compare fairly: each is judged by its total log-probability."""
        texts = list(texts)
        return score_candidates(
            self.loaded.network, self.loaded.vocab, texts, context, self.device, names=self.names
        )

    def surprise(
        self, text: str, *, context: str = "", unknown: str = "error", guesses: int = GUESSES
    ) -> list[CharSurprise]:
        """Each character of `text` after `context` ("" = the start of a line, so the first is
        predicted too): how surprising the model found it, in bits (−log₂ p), and the `guesses`
        characters it expected in its place, with their probabilities (the same figures
        `charrnn visualize` colours by). unknown="skip" keeps characters outside the vocabulary
        with no surprise."""
        return char_surprises(
            self.loaded.network,
            self.loaded.vocab,
            text,
            self.device,
            context=context,
            unknown=unknown,
            guesses=guesses,
            names=self.names,
        )
