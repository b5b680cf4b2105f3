"""`charrnn visualize`: a text read by a model, as one self-contained HTML page and a report of the
units that track simple features of the text. `visualize` is what the command calls.

    text (FILE, --text, or the start of the validation part) ─▶ ids
      ─▶ trace.trace: every unit's state and log p(next) per character, a chunk at a time
           ├─▶ activations for the page (float16, then int8); surprise and guesses (measure.surprise)
           └─▶ probe.Correlations with features.FEATURES ─▶ the units found
      ─▶ page.render_page ─▶ PAGE.html (written atomically)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from charrnn.data.reading import TextStats, known_ids
from charrnn.data.text import STDIN, read_text_head
from charrnn.data.vocab import describe_chars
from charrnn.errors import ConfigError, CorpusError
from charrnn.files import atomic_write
from charrnn.inspect.config import VisualizeConfig
from charrnn.inspect.features import FEATURES, feature_matrix
from charrnn.inspect.page import PageContent, render_page
from charrnn.inspect.probe import Correlations, FoundUnits, best_units
from charrnn.inspect.trace import CHUNK_LEN, trace
from charrnn.inspect.units import UnitLayout, UnitRef
from charrnn.measure.loss import LN2, LossReport
from charrnn.measure.surprise import SurpriseReading, read_surprise
from charrnn.model.checkpoint import LoadedModel, load_model
from charrnn.model.paths import resolve_checkpoint
from charrnn.model.trained_on import trained_on
from charrnn.runtime import choose_device, configure_threads

F16_MAX = 65_000.0  # a cell state is kept as float16 until its scale is known


@dataclass(frozen=True)
class ShownText:
    """The text a page shows: its known characters, and how they were got."""

    text: str
    ids: np.ndarray
    source: str  # how the report names it
    truncated: bool  # the source had more than --max-chars characters
    skipped: int  # characters outside the vocabulary, dropped (--skip-unknown)
    skipped_chars: str


def shown_text(
    loaded: LoadedModel, checkpoint: Path, file: str | None, text: str | None, config: VisualizeConfig
) -> ShownText:
    """FILE ("-": stdin), --text, or the start of the validation part; cut to --max-chars; then
    the characters outside the vocabulary refused, or dropped with --skip-unknown."""
    if file is not None and text is not None:
        raise ConfigError("give a FILE or --text, not both")
    if text is not None:
        raw, truncated, source = text[: config.max_chars], len(text) > config.max_chars, "--text"
    elif file is not None:
        raw, truncated = read_text_head(file, config.max_chars)
        source = "stdin" if file == STDIN else file
    else:
        corpus = trained_on(loaded, checkpoint, "give a FILE or --text to visualize")
        val = corpus.validation
        raw = loaded.vocab.decode(val[: config.max_chars])
        truncated, source = len(val) > config.max_chars, f"{corpus.name} (validation)"
    if not raw:
        raise CorpusError(f"{source} is empty: nothing to visualize")
    stats = TextStats()
    unknown = "skip" if config.skip_unknown else "error"
    ids = known_ids(raw, loaded.vocab, unknown, stats, source, advice="--skip-unknown drops them")
    if len(ids) < 2:
        known = "no character" if len(ids) == 0 else "only one character"
        raise CorpusError(f"{source} has {known} the model knows: nothing to visualize")
    skipped = "".join(sorted(stats.skipped_chars))
    return ShownText(loaded.vocab.decode(ids), ids, source, truncated, stats.skipped, skipped)


@dataclass(frozen=True)
class Readings:
    """What the model does at each of T characters, as the page and the report need it."""

    activations: np.ndarray  # (T, N) int8: each column ÷ its scale × 127
    scales: np.ndarray  # (N,) float: 1 for h (within ±1); a cell state's largest |c| in this text
    surprise: SurpriseReading  # each character's surprise and the model's guesses in its place
    r: np.ndarray  # (K, N) Pearson r of each feature with each column (raw c, not tanh)
    features_vary: np.ndarray  # (K,) bool

    @property
    def loss(self) -> LossReport:
        """Every character predicted, the first after the start of a line (as `charrnn score`)."""
        return LossReport(float(self.surprise.bits.sum()) * LN2, len(self.surprise.bits))


def read_model(
    loaded: LoadedModel, shown: ShownText, device: torch.device, chunk_len: int = CHUNK_LEN
) -> Readings:
    """One pass over the text, a chunk at a time; the activations are kept whole only as float16
    (2 bytes a value: 82 MB for 20,000 characters of a 2 × 512 LSTM), then as int8."""
    model, ids, vocab = loaded.network, shown.ids, loaded.vocab
    layout = UnitLayout.of(model.config)
    features = feature_matrix(shown.text, FEATURES)  # (T, K)
    correlations = Correlations(features)
    length = len(ids)
    kept = np.empty((length, layout.count), dtype=np.float16)
    largest = torch.zeros(layout.count, device=device)  # each column's largest |value|
    surprises = []
    targets = torch.from_numpy(ids.astype(np.int64)).to(device)
    for chunk in trace(model, ids, device, vocab.encode(vocab.line_start), chunk_len):
        start, stop = chunk.start, chunk.start + len(chunk.activations)
        correlations.add(start, chunk.activations)
        kept[start:stop] = chunk.activations.clamp(-F16_MAX, F16_MAX).cpu().numpy()
        largest = torch.maximum(largest, chunk.activations.abs().amax(dim=0))
        surprises.append(read_surprise(chunk.log_probs, targets[start:stop]))
    cell_states = np.array([layout.is_cell_state(i) for i in range(layout.count)])
    scales = np.where(cell_states, np.clip(largest.double().cpu().numpy(), 1e-6, F16_MAX), 1.0)
    activations = np.empty((length, layout.count), dtype=np.int8)
    factor = (127 / scales).astype(np.float32)
    for start in range(0, length, chunk_len):  # bounded temporaries
        rows = kept[start : start + chunk_len].astype(np.float32) * factor
        activations[start : start + chunk_len] = np.clip(np.round(rows), -127, 127)
    varies = features.std(axis=0) > 0
    return Readings(activations, scales, SurpriseReading.join(surprises), correlations.r(), varies)


@dataclass(frozen=True)
class VisualizeReport:
    checkpoint: Path
    output: Path
    page_bytes: int
    text: ShownText
    cell: str
    num_layers: int
    hidden_size: int
    unit: UnitRef  # the unit the page colours first
    found: list[FoundUnits]
    units_in_page: int  # columns (unit and state) whose activations the page holds
    units_total: int
    loss: LossReport  # the summed surprise of every character
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The --json document."""
        return {
            "checkpoint": str(self.checkpoint),
            "page": str(self.output),
            "page_bytes": self.page_bytes,
            "text": {
                "source": self.text.source,
                "chars": len(self.text.ids),
                "truncated": self.text.truncated,
                "skipped_unknown": self.text.skipped,
            },
            "model": {"cell": self.cell, "num_layers": self.num_layers, "hidden_size": self.hidden_size},
            "unit": self.unit.to_dict(),
            "features": [f.to_dict() for f in self.found],
            "units_in_page": self.units_in_page,
            "units_total": self.units_total,
            "bits_per_char": self.loss.bits_per_char,
            "seconds": self.seconds,
        }


def check_output(output: Path) -> None:
    """Refuse a page path that cannot be written before any work is done."""
    if output.is_dir():
        raise ConfigError(f"--output {output} is a directory: name the page, e.g. {output / 'page.html'}")
    parent = output.parent
    if not parent.is_dir():
        raise ConfigError(f"cannot write --output {output}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write --output {output}: {parent} is not writable")


def visualize(
    config: VisualizeConfig,
    *,
    output: Path,
    checkpoint: Path | None = None,
    file: str | None = None,
    text: str | None = None,
    device: str = "cpu",
    warn: Callable[[str], None] = lambda message: None,
) -> VisualizeReport:
    """Read the text with the checkpoint's model, write the page to `output`, report the units found."""
    started = time.perf_counter()
    check_output(output)
    torch_device = choose_device(device)
    configure_threads(config.threads)
    path = resolve_checkpoint(checkpoint)
    loaded = load_model(path, torch_device)
    layout = UnitLayout.of(loaded.network.config)
    chosen = layout.parse(config.unit, config.state) if config.unit is not None else None
    if chosen is None and config.state is not None:
        raise ConfigError("--state goes with --unit LAYER:UNIT")
    shown = shown_text(loaded, path, file, text, config)
    if shown.truncated:
        warn(f"showing the first {config.max_chars:,} characters of {shown.source} (--max-chars)")
    if shown.skipped:
        dropped = describe_chars(shown.skipped_chars)
        warn(f"dropped {shown.skipped:,} character(s) outside the vocabulary: {dropped}")
    readings = read_model(loaded, shown, torch_device)
    found = best_units(readings.r, FEATURES, readings.features_vary, layout, config.top)
    unit = chosen or _strongest(found) or UnitRef(layout.num_layers, 0, layout.states[0])
    content = PageContent.build(loaded, path, shown, readings, found, layout, unit)
    if content.columns_dropped:
        warn(
            f"the page holds {len(content.columns):,} of {layout.count:,} units for "
            f"{len(shown.ids):,} characters (those the probe ranks first); a shorter --max-chars holds more"
        )
    page = render_page(content).encode("utf-8")
    try:
        atomic_write(output, lambda f: f.write(page), mode=0o644)  # a page to open and share
    except OSError as e:
        raise ConfigError(f"could not write {output}: {e.strerror or e}") from None
    return VisualizeReport(
        checkpoint=path,
        output=output,
        page_bytes=len(page),
        text=shown,
        cell=layout.cell,
        num_layers=layout.num_layers,
        hidden_size=layout.hidden_size,
        unit=unit,
        found=found,
        units_in_page=len(content.columns),
        units_total=layout.count,
        loss=readings.loss,
        seconds=time.perf_counter() - started,
    )


def _strongest(found: list[FoundUnits]) -> UnitRef | None:
    """The unit of largest |r| over every feature."""
    best = max((u for f in found for u in f.units), key=lambda u: abs(u[1]), default=None)
    return best[0] if best is not None else None
