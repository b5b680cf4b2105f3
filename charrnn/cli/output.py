"""`charrnn perplexity` and `charrnn score` end to end: load, measure, print.

Tables go to stderr (rich); `--json` writes one JSON object to stdout instead, for machines.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.table import Table

from charrnn.data.text import decode_utf8, read_bytes
from charrnn.errors import ConfigError
from charrnn.measure.perplexity import (
    MeasureConfig,
    TextResult,
    measure_text,
    measure_validation,
    total_of,
    training_ms,
)
from charrnn.measure.score import Scored, score_candidates
from charrnn.model.checkpoint import default_checkpoint, load_model
from charrnn.runtime import choose_device, choose_precision


def run_perplexity(
    *,
    files: list[str],
    checkpoint: Path | None,
    config: MeasureConfig,
    device_name: str,
    as_json: bool,
    console: Console,
    out: TextIO | None = None,
) -> None:
    device = choose_device(device_name)
    config = replace(config, precision=choose_precision(config.precision, device))
    path = checkpoint or default_checkpoint()
    loaded = load_model(path, device)
    if files.count("-") > 1:
        raise ConfigError("stdin (-) can be read only once")
    results: list[TextResult] = []
    with console.status("measuring…"):
        if not files:
            results.append(measure_validation(loaded, path, config, device))
        else:
            ms = training_ms(loaded, path, config.dynamic.seg_len, device) if config.dynamic else None
            results.extend(measure_text(loaded, f, config, device, ms) for f in files)
    total = total_of(results)
    if as_json:
        doc = {
            "checkpoint": str(path),
            "exact": config.streams == 1,
            "streams": config.streams,
            "texts": [r.to_dict() for r in results],
            "total": total,
        }
        if config.dynamic is not None:
            doc["dynamic_config"] = config.dynamic.__dict__
        print(json.dumps(doc), file=out or sys.stdout)
        return
    console.print(_perplexity_table(results, total, config))
    for r in results:
        if r.skipped:
            console.print(
                f"{r.name}: skipped {r.skipped:,} character(s) outside the vocabulary: {r.skipped_chars!r}",
                markup=False,
                highlight=False,
            )
        if r.reported_val_loss is not None:
            console.print(f"training reported {r.reported_val_loss:.4f} nats/char at this checkpoint")
    if config.streams > 1:
        console.print(
            f"approximate: the text was cut into {config.streams} segments scored side by side, each "
            "starting from a zero state (--streams 1 is exact)"
        )


def _perplexity_table(results: list[TextResult], total: dict, config: MeasureConfig) -> Table:
    dynamic = config.dynamic is not None
    baselines = sorted({k for r in results for k in r.baselines})
    table = Table(
        title="per character, lower is better (bpc: bits/char; ppl: perplexity; gzip, bz2, lzma: their bpc)",
        title_justify="left",
    )
    columns = ["text", "chars", "nats", "bpc", "ppl"] + ["dynamic bpc"] * dynamic + baselines + ["chars/s"]
    for name in columns:
        table.add_column(name, justify="left" if name == "text" else "right", overflow="fold")

    def row(name: str, figures: dict, r: TextResult | None) -> list[str]:
        cells = [
            name,
            f"{figures['chars_scored']:,}",
            f"{figures['nats_per_char']:.4f}",
            f"{figures['bits_per_char']:.4f}",
            f"{figures['perplexity']:.3f}",
        ]
        if dynamic:
            cells.append(f"{figures['dynamic']['bits_per_char']:.4f}" if "dynamic" in figures else "")
        cells += [f"{r.baselines[b]:.2f}" if r else "" for b in baselines]
        cells.append(f"{r.chars_per_sec:,.0f}" if r else "")
        return cells

    for r in results:
        table.add_row(*row(r.name, r.to_dict(), r))
    if len(results) > 1:
        table.add_row(*row("total", total, None), style="bold")
    return table


def run_score(
    *,
    texts: list[str],
    file: Path | None,
    context: str,
    checkpoint: Path | None,
    device_name: str,
    as_json: bool,
    console: Console,
    out: TextIO | None = None,
) -> None:
    candidates = list(texts)
    if file is not None:
        lines = decode_utf8(read_bytes(file, what="candidates file"), str(file)).splitlines()
        candidates += [line for line in lines if line]
    device = choose_device(device_name)
    path = checkpoint or default_checkpoint()
    loaded = load_model(path, device)
    scored = score_candidates(loaded.model, loaded.vocab, candidates, context, device)
    if as_json:
        doc = {"checkpoint": str(path), "context": context, "candidates": [s.to_dict() for s in scored]}
        print(json.dumps(doc), file=out or sys.stdout)
        return
    console.print(_score_table(scored))


def _score_table(scored: list[Scored]) -> Table:
    table = Table(title="most to least probable", title_justify="left")
    for name in ("rank", "text", "log p (nats)", "log₂ p (bits)", "bits/char"):
        table.add_column(name, justify="left" if name == "text" else "right")
    for s in scored:
        table.add_row(str(s.rank), repr(s.text), f"{-s.nats:.3f}", f"{-s.bits:.3f}", f"{s.bits_per_char:.3f}")
    return table
