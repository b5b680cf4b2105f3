"""`charrnn perplexity` and `charrnn score`: their options, and their results as rich tables on
stderr or, with --json, one JSON object on stdout."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from charrnn.cli.output import (
    CheckpointOption,
    DeviceOption,
    JsonOption,
    err_console,
    print_json,
    tell,
    user_errors,
)
from charrnn.measure.config import DynamicConfig

if TYPE_CHECKING:
    from rich.table import Table

    from charrnn.measure.perplexity import PerplexityReport
    from charrnn.measure.score import ScoreReport


def perplexity_command(
    files: Annotated[
        list[str] | None,
        typer.Argument(
            help="Texts to measure (- = stdin). None: the validation part of the training corpus."
        ),
    ] = None,
    checkpoint: CheckpointOption = None,
    as_json: JsonOption = False,
    segments: Annotated[
        int,
        typer.Option(
            help="1 = exact; K > 1 scores K contiguous segments side by side, each after the 1,024 "
            "characters before it (approximate, faster)."
        ),
    ] = 1,
    streams: Annotated[
        int | None, typer.Option("--streams", hidden=True, help="The old name of --segments.")
    ] = None,
    unknown: Annotated[
        str, typer.Option(help="Characters outside the vocabulary: skip (and count) or error.")
    ] = "skip",
    baselines: Annotated[
        bool, typer.Option("--baselines/--no-baselines", help="Also report gzip, bz2 and lzma bits/char.")
    ] = True,
    dynamic: Annotated[
        bool, typer.Option("--dynamic", help="Also dynamic evaluation: the model adapts as it reads.")
    ] = False,
    dynamic_lr: Annotated[float, typer.Option(help="Dynamic evaluation's step size.")] = DynamicConfig.lr,
    dynamic_decay: Annotated[
        float, typer.Option(help="Dynamic evaluation's pull back toward the trained weights, per segment.")
    ] = DynamicConfig.decay,
    dynamic_seg_len: Annotated[
        int, typer.Option(help="Characters scored between two dynamic updates.")
    ] = DynamicConfig.seg_len,
    device: DeviceOption = "cpu",
    precision: Annotated[str, typer.Option(help="fp32 (default), bf16 or auto.")] = "fp32",
) -> None:
    """Cross-entropy, bits per character and perplexity, the state carried across each whole text.

    Example: charrnn perplexity corpora/tinyshakespeare.txt --json
    """
    with user_errors():
        from charrnn.api import load
        from charrnn.measure.config import MeasureConfig

        dyn = DynamicConfig(lr=dynamic_lr, decay=dynamic_decay, seg_len=dynamic_seg_len) if dynamic else None
        config = MeasureConfig(
            segments=segments if streams is None else streams,
            unknown=unknown,
            baselines=baselines,
            precision=precision,
            dynamic=dyn,
        )
        with err_console.status("measuring…"):
            report = load(checkpoint, device).perplexity_files(list(files or []), config)
        if as_json:
            print_json(report.to_dict())
        else:
            _show_perplexity(report)


def _show_perplexity(report: PerplexityReport) -> None:
    err_console.print(_perplexity_table(report))
    for r in report.results:
        if r.skipped:
            tell(f"{r.name}: skipped {r.skipped:,} character(s) outside the vocabulary: {r.skipped_chars!r}")
        if r.reported_val_loss is not None:
            tell(f"training reported {r.reported_val_loss:.4f} nats/char at this checkpoint")
    if report.config.segments > 1:
        tell(
            f"approximate: the text was cut into {report.config.segments} segments scored side by side, "
            "each after the 1,024 characters before it (--segments 1 is exact)"
        )


def _perplexity_table(report: PerplexityReport) -> Table:
    from rich.table import Table

    dynamic = report.config.dynamic is not None
    baselines = sorted({k for r in report.results for k in r.baselines})
    table = Table(
        title="per character, lower is better (bpc: bits/char; ppl: perplexity; gzip, bz2, lzma: their bpc)",
        title_justify="left",
    )
    columns = ["text", "chars", "nats", "bpc", "ppl"] + ["dynamic bpc"] * dynamic + baselines + ["chars/s"]
    for name in columns:
        table.add_column(name, justify="left" if name == "text" else "right", overflow="fold")

    def row(name: str, figures: dict[str, Any], baseline: dict[str, float], speed: str) -> list[str]:
        cells = [
            name,
            f"{figures['chars_scored']:,}",
            f"{figures['nats_per_char']:.4f}",
            f"{figures['bits_per_char']:.4f}",
            f"{figures['perplexity']:.3f}",
        ]
        if dynamic:
            cells.append(f"{figures['dynamic']['bits_per_char']:.4f}" if "dynamic" in figures else "")
        return cells + [f"{baseline[b]:.2f}" if b in baseline else "" for b in baselines] + [speed]

    for r in report.results:
        table.add_row(*row(r.name, r.to_dict(), r.baselines, f"{r.chars_per_sec:,.0f}"))
    if len(report.results) > 1:
        table.add_row(*row("total", report.total, {}, ""), style="bold")
    return table


def score_command(
    texts: Annotated[list[str] | None, typer.Argument(help="Candidate texts to compare.")] = None,
    file: Annotated[Path | None, typer.Option(help="More candidates: one per line of this file.")] = None,
    context: Annotated[
        str, typer.Option(help="Text every candidate follows (default: the start of a line).")
    ] = "",
    checkpoint: CheckpointOption = None,
    as_json: JsonOption = False,
    device: DeviceOption = "cpu",
) -> None:
    """Rank texts by how probable the model finds them.

    Example: charrnn score "The red deer is a ruminant" "The red dear is a ruminant"
    """
    with user_errors():
        from charrnn.api import load
        from charrnn.measure.score import ScoreReport, read_candidates

        candidates = read_candidates(list(texts or []), file)
        model = load(checkpoint, device)
        report = ScoreReport(model.path, context, model.score(candidates, context))
        if as_json:
            print_json(report.to_dict())
        else:
            err_console.print(_score_table(report))


def _score_table(report: ScoreReport) -> Table:
    from rich.table import Table

    table = Table(title="most to least probable", title_justify="left")
    for name in ("rank", "text", "log p (nats)", "log₂ p (bits)", "bits/char"):
        table.add_column(name, justify="left" if name == "text" else "right")
    for s in report.scored:
        table.add_row(str(s.rank), repr(s.text), f"{-s.nats:.3f}", f"{-s.bits:.3f}", f"{s.bits_per_char:.3f}")
    return table
