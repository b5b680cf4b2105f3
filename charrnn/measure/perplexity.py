"""`charrnn perplexity`: a model's cross-entropy on texts, next to what compressors reach.

Each text (a file, stdin or a string) is read in chunks (data/reading.py) and scored exactly
with the state carried (loss.TextScorer), optionally also with dynamic evaluation (dynamic.py)
in the same pass. With no text, the validation part of the corpus the checkpoint was trained on.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from charrnn.data.reading import TextStats, text_ids
from charrnn.data.text import STDIN, read_text_chunks
from charrnn.errors import ConfigError, CorpusError
from charrnn.measure.baselines import CompressorBaselines
from charrnn.measure.config import MeasureConfig
from charrnn.measure.dynamic import DynamicScorer, gradient_ms
from charrnn.measure.loss import SEGMENT_WARMUP, LossReport, TextScorer, text_loss
from charrnn.model.checkpoint import LoadedModel
from charrnn.model.trained_on import trained_on
from charrnn.options import FLAGS, Names
from charrnn.runtime import choose_precision

TEXT_CHUNK = 1 << 20  # characters of a text handled at a time (a string's, the validation part's)
MEASURE_INSTEAD = "give a FILE to measure"


@dataclass(frozen=True)
class TextResult:
    name: str
    static: LossReport
    dynamic: LossReport | None
    chars_read: int
    skipped: int
    skipped_chars: str
    seconds: float  # spent in the model (not in the compressors)
    baselines: dict[str, float] = field(default_factory=dict)
    reported_val_loss: float | None = None  # what training logged for this checkpoint, if validation

    @property
    def chars_scored(self) -> int:
        """Characters predicted: every known character after the first."""
        return self.static.num_predicted

    @property
    def nats_per_char(self) -> float:
        return self.static.nats_per_char

    @property
    def bits_per_char(self) -> float:
        return self.static.bits_per_char

    @property
    def perplexity(self) -> float:
        return self.static.perplexity

    @property
    def chars_per_sec(self) -> float:
        return self.static.num_predicted / max(self.seconds, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "text": self.name,
            "chars_read": self.chars_read,
            "chars_scored": self.static.num_predicted,
            "skipped_unknown": self.skipped,
            **_figures(self.static),
            "seconds": self.seconds,
            "chars_per_sec": self.chars_per_sec,
            "baselines_bits_per_char": self.baselines,
        }
        if self.dynamic is not None:
            d["dynamic"] = _figures(self.dynamic)
        if self.reported_val_loss is not None:
            d["training_reported_nats_per_char"] = self.reported_val_loss
        return d


def _figures(report: LossReport) -> dict[str, float]:
    return {
        "total_nats": report.total_nats,
        "nats_per_char": report.nats_per_char,
        "bits_per_char": report.bits_per_char,
        "perplexity": report.perplexity,
    }


def total_of(results: list[TextResult]) -> dict[str, Any]:
    """All texts together: summed nats over summed predicted characters."""
    static = LossReport(
        sum(r.static.total_nats for r in results), sum(r.static.num_predicted for r in results)
    )
    d: dict[str, Any] = {
        "chars_read": sum(r.chars_read for r in results),
        "chars_scored": static.num_predicted,
        "skipped_unknown": sum(r.skipped for r in results),
        **_figures(static),
        "seconds": sum(r.seconds for r in results),
    }
    if all(r.dynamic is not None for r in results):
        dyn = [r.dynamic for r in results if r.dynamic is not None]
        d["dynamic"] = _figures(LossReport(sum(r.total_nats for r in dyn), sum(r.num_predicted for r in dyn)))
    return d


def measure_text(
    loaded: LoadedModel,
    source: str,
    config: MeasureConfig,
    device: torch.device,
    ms: list[torch.Tensor] | None = None,
) -> TextResult:
    """Score one file (or "-" for stdin) read in chunks."""
    name = "stdin" if source == STDIN else source
    return measure_chunks(loaded, name, read_text_chunks(source), config, device, ms)


def measure_string(
    loaded: LoadedModel,
    text: str,
    config: MeasureConfig,
    device: torch.device,
    name: str = "text",
    names: Names = FLAGS,
) -> TextResult:
    """Score a text held as a string (`charrnn.Model.perplexity`), TEXT_CHUNK characters at a
    time; its errors name the `unknown` setting as `names` do."""
    chunks = (text[start : start + TEXT_CHUNK] for start in range(0, len(text), TEXT_CHUNK))
    return measure_chunks(loaded, name, chunks, config, device, names=names)


def measure_chunks(
    loaded: LoadedModel,
    name: str,
    chunks: Iterable[str],
    config: MeasureConfig,
    device: torch.device,
    ms: list[torch.Tensor] | None = None,
    names: Names = FLAGS,
) -> TextResult:
    """Score a text given as chunks of characters, with the compressors beside it if asked."""
    stats = TextStats()
    baselines = CompressorBaselines() if config.baselines else None
    add = baselines.add if baselines else None
    ids = text_ids(chunks, name, loaded.vocab, config.unknown, stats, on_text=add, names=names)
    return _score(loaded, name, ids, config, device, ms, stats, baselines)


def measure_validation(
    loaded: LoadedModel, checkpoint: Path, config: MeasureConfig, device: torch.device
) -> TextResult:
    """Score the validation part of the training corpus, as training does."""
    corpus = trained_on(loaded, checkpoint, MEASURE_INSTEAD)
    train, val = corpus.train, corpus.validation
    stats = TextStats(chars=len(val))
    baselines = CompressorBaselines() if config.baselines else None
    if baselines is not None:
        for start in range(0, len(val), TEXT_CHUNK):
            baselines.add(loaded.vocab.decode(val[start : start + TEXT_CHUNK]))
    ms = gradient_ms(loaded.network, train, config.dynamic.seg_len, device) if config.dynamic else None
    chunks = (val[start : start + TEXT_CHUNK] for start in range(0, len(val), TEXT_CHUNK))
    result = _score(loaded, f"{corpus.name} (validation)", chunks, config, device, ms, stats, baselines)
    training = loaded.checkpoint.training
    if training is not None and training.history:
        result = replace(result, reported_val_loss=training.history[-1].val_loss)
    return result


def training_ms(
    loaded: LoadedModel, checkpoint: Path, seg_len: int, device: torch.device
) -> list[torch.Tensor] | None:
    """Gradient statistics for dynamic evaluation from the training corpus, if it is still there."""
    try:
        train = trained_on(loaded, checkpoint, MEASURE_INSTEAD).train
    except CorpusError:
        return None
    return gradient_ms(loaded.network, train, seg_len, device)


def _score(
    loaded: LoadedModel,
    name: str,
    chunks: Iterable[np.ndarray],
    config: MeasureConfig,
    device: torch.device,
    ms: list[torch.Tensor] | None,
    stats: TextStats,
    baselines: CompressorBaselines | None,
) -> TextResult:
    model = loaded.network
    seconds = 0.0
    dynamic = DynamicScorer(model, config.dynamic, device, ms) if config.dynamic else None
    if config.segments > 1:  # the segments need the whole text's length: hold its ids
        ids = np.concatenate(list(chunks) or [np.empty(0, dtype=np.int64)])
        _need_two(len(ids), name)
        start = time.perf_counter()
        static = text_loss(
            model, ids, device, config.precision, segments=config.segments, warmup=SEGMENT_WARMUP
        )
        seconds = time.perf_counter() - start
    else:
        scorer = TextScorer(model, device, config.precision)
        for piece in chunks:
            start = time.perf_counter()
            scorer.feed(piece)
            if dynamic is not None:
                dynamic.feed(piece)
            seconds += time.perf_counter() - start
        _need_two(scorer.num_predicted + 1, name)
        static = scorer.report()
    start = time.perf_counter()
    dynamic_report = dynamic.report() if dynamic is not None else None
    seconds += time.perf_counter() - start
    return TextResult(
        name=name,
        static=static,
        dynamic=dynamic_report,
        chars_read=stats.chars,
        skipped=stats.skipped,
        skipped_chars="".join(sorted(stats.skipped_chars)),
        seconds=seconds,
        baselines=baselines.bits_per_char() if baselines is not None else {},
    )


def _need_two(num_known: int, name: str) -> None:
    if num_known < 2:
        raise CorpusError(f"{name}: fewer than two characters the model knows, nothing to predict")


@dataclass(frozen=True)
class PerplexityReport:
    """What `charrnn perplexity` measured: one result per text, and their total."""

    checkpoint: Path
    config: MeasureConfig
    results: list[TextResult]

    @property
    def total(self) -> dict[str, Any]:
        return total_of(self.results)

    def to_dict(self) -> dict[str, Any]:
        """The --json document."""
        doc: dict[str, Any] = {
            "checkpoint": str(self.checkpoint),
            "exact": self.config.segments == 1,
            "segments": self.config.segments,
            "texts": [r.to_dict() for r in self.results],
            "total": self.total,
        }
        if self.config.dynamic is not None:
            doc["dynamic_config"] = asdict(self.config.dynamic)
        return doc


def measure_perplexity(
    loaded: LoadedModel, checkpoint: Path, files: list[str], config: MeasureConfig, device: torch.device
) -> PerplexityReport:
    """Measure `files` ("-" = stdin), or with none the validation part of the training corpus
    (`checkpoint` is where `loaded` came from: it names the model in errors and in the report)."""
    if files.count("-") > 1:
        raise ConfigError("stdin (-) can be read only once")
    config = replace(config, precision=choose_precision(config.precision, device))
    if not files:
        return PerplexityReport(checkpoint, config, [measure_validation(loaded, checkpoint, config, device)])
    ms = training_ms(loaded, checkpoint, config.dynamic.seg_len, device) if config.dynamic else None
    return PerplexityReport(checkpoint, config, [measure_text(loaded, f, config, device, ms) for f in files])
