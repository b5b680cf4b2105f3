"""What training measures on the held-out text: the validation loss, its price for the step
plan, and a short sample to show progress.

The last validation of a run is exact (the state carried across the whole text), unless that
one pass would cost more than EXACT_SHARE of a time budget (a large held-out part on a slow
machine): then the plan says it reads the text in PERIODIC_SEGMENTS warmed segments too, and
`charrnn perplexity` gives the exact figure afterwards. The ones before it are there to follow
progress about once a minute, so by default they read the text as PERIODIC_SEGMENTS segments
side by side, each after the SEGMENT_WARMUP characters before it (a batch is many times faster
than one stream on a CPU; the warm-up takes the place of the state carried). An explicit
--val-segments K makes every validation K segments (1: every one exact)."""

from __future__ import annotations

from collections.abc import Callable

from charrnn.generate.sampling import sample_text
from charrnn.measure.loss import SEGMENT_WARMUP, LossReport, text_loss
from charrnn.model.records import StepPlan
from charrnn.runtime import synchronize
from charrnn.train.config import TrainConfig
from charrnn.train.start import Run

PRICE_CHARS = 16_384  # validation characters timed to price a whole validation pass
PERIODIC_SEGMENTS = 16  # segments of a validation before the last, unless --val-segments says
EXACT_SHARE = 0.03  # the most of a time budget that an exact last validation may cost


def validation_segments(config: TrainConfig, last: bool, plan: StepPlan | None = None) -> int:
    """Segments of a validation: --val-segments if given, else for the last what the plan says
    (1, exact, by default), PERIODIC_SEGMENTS for those before."""
    if config.val_segments is not None:
        return config.val_segments
    if last:
        return plan.last_val_segments if plan is not None else 1
    return PERIODIC_SEGMENTS


def validation_loss(run: Run, should_stop: Callable[[], bool], segments: int) -> LossReport:
    """The loss over the validation text in `segments` segments; MeasurementInterrupted if
    `should_stop` says so between chunks."""
    return text_loss(
        run.model,
        run.val_ids,
        run.device,
        run.precision,
        segments=segments,
        should_stop=should_stop,
        warmup=SEGMENT_WARMUP,
    )


def seconds_per_validation(run: Run, clock: Callable[[], float], segments: int) -> float:
    """One validation pass's cost in `segments` segments, from timing each segment's start (its
    warm-up and a slice of its own, PRICE_CHARS characters in all)."""
    n = len(run.val_ids) - 1
    segments = max(1, min(segments, n))
    length = -(-n // segments)  # each segment's own characters
    own = max(1, min(PRICE_CHARS // segments, length))  # of which the probe times
    warmup = SEGMENT_WARMUP if segments > 1 else 0
    probe = run.val_ids[: own * segments + 1]
    started = clock()
    text_loss(run.model, probe, run.device, run.precision, segments=segments, warmup=warmup)
    synchronize(run.device)
    return (clock() - started) * (length + min(warmup, length)) / (own + min(warmup, own))


def preview(run: Run) -> str:
    """--sample-chars characters sampled at temperature 0.8 after the validation text's first
    character (with it), seeded by the step so that a run repeated shows the same text."""
    if not run.config.sample_chars:
        return ""
    vocab = run.corpus.vocab
    prime = vocab.decode(run.val_ids[:1])
    seed = run.config.seed + run.progress.step
    return prime + sample_text(run.model, vocab, prime, run.config.sample_chars, temperature=0.8, seed=seed)
