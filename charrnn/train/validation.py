"""What training measures on the held-out text: the validation loss (exact, the state carried
across the whole text), its price for the step plan, and a short sample to show progress."""

from __future__ import annotations

from collections.abc import Callable

from charrnn.generate.sampling import sample_text
from charrnn.measure.loss import LossReport, text_loss
from charrnn.runtime import synchronize
from charrnn.train.start import Run

PRICE_CHARS = 16_384  # validation characters timed to price a whole validation pass


def validation_loss(run: Run, should_stop: Callable[[], bool]) -> LossReport:
    """The loss over the validation text; MeasurementInterrupted if `should_stop` says so between chunks."""
    return text_loss(
        run.model,
        run.val_ids,
        run.device,
        run.precision,
        segments=run.config.val_streams,
        should_stop=should_stop,
    )


def seconds_per_validation(run: Run, clock: Callable[[], float]) -> float:
    """One validation pass's cost, from timing a pass over the start of the validation text."""
    probe = run.val_ids[: PRICE_CHARS + 1]
    started = clock()
    text_loss(
        run.model, probe, run.device, run.precision, segments=min(run.config.val_streams, len(probe) - 1)
    )
    synchronize(run.device)
    return (clock() - started) * (len(run.val_ids) - 1) / (len(probe) - 1)


def preview(run: Run) -> str:
    """--sample-chars characters sampled at temperature 0.8 after the validation text's first
    character (with it), seeded by the step so that a run repeated shows the same text."""
    if not run.config.sample_chars:
        return ""
    vocab = run.corpus.vocab
    prime = vocab.decode(run.val_ids[:1])
    seed = run.config.seed + run.progress.step
    return prime + sample_text(run.model, vocab, prime, run.config.sample_chars, temperature=0.8, seed=seed)
