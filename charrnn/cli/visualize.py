"""`charrnn visualize`: its options; the page written, and the units found as a rich table on
stderr or, with --json, one JSON object on stdout."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from charrnn.inspect.config import DEFAULT_CHARS, MAX_CHARS, VisualizeConfig

if TYPE_CHECKING:
    from rich.table import Table

    from charrnn.inspect.visualize import VisualizeReport


def visualize_command(
    file: Annotated[
        str | None,
        typer.Argument(
            help="Text to read (- = stdin). None, and no --text: the start of the validation part."
        ),
    ] = None,
    text: Annotated[str | None, typer.Option(help="The text to read, given here instead of a FILE.")] = None,
    checkpoint: CheckpointOption = None,
    output: Annotated[Path, typer.Option(help="The page to write: one HTML file, no network needed.")] = Path(
        "visualize.html"
    ),
    max_chars: Annotated[
        int, typer.Option(help=f"Read at most this many characters (at most {MAX_CHARS:,}).")
    ] = DEFAULT_CHARS,
    unit: Annotated[
        str | None,
        typer.Option(
            help="The unit to colour first, LAYER:UNIT (layer 1 nearest the input; units from 0). "
            "Default: the strongest unit found."
        ),
    ] = None,
    state: Annotated[
        str | None, typer.Option(help="Its state: c (cell state, LSTM and mLSTM; the default there) or h.")
    ] = None,
    top: Annotated[int, typer.Option(help="Units to report for each feature.")] = VisualizeConfig.top,
    skip_unknown: Annotated[
        bool, typer.Option("--skip-unknown", help="Drop characters the model does not know.")
    ] = False,
    as_json: JsonOption = False,
    device: DeviceOption = "cpu",
    threads: Annotated[
        int, typer.Option(help="CPU threads (one by default: a batch-1 recurrence gains little from more).")
    ] = VisualizeConfig.threads,
) -> None:
    """A page of what each unit tracks: the text coloured by a unit's activation or by the model's
    surprise, its guesses in each place on hover, and the units that follow simple features.

    Example: charrnn visualize --output page.html --unit 2:37
    """
    with user_errors():
        from charrnn.inspect.visualize import visualize

        config = VisualizeConfig(
            max_chars=max_chars, unit=unit, state=state, top=top, skip_unknown=skip_unknown, threads=threads
        )
        with err_console.status("reading the text…"):
            report = visualize(
                config, output=output, checkpoint=checkpoint, file=file, text=text, device=device, warn=tell
            )
        if as_json:
            print_json(report.to_dict())
        else:
            err_console.print(_found_table(report))
        tell(
            f"wrote {report.output} ({report.page_bytes / 1e6:.1f} MB): {len(report.text.ids):,} characters, "
            f"{report.loss.bits_per_char:.3f} bits/char, in {report.seconds:.1f} s; open it in a browser"
        )


def _found_table(report: VisualizeReport) -> Table:
    from rich.table import Table

    table = Table(
        title=f"units that track each feature (Pearson r of the activation; {report.cell}: "
        + (
            "c is the cell state, h the output)"
            if report.cell in ("lstm", "mlstm")
            else "h is the hidden state)"
        ),
        title_justify="left",
    )
    for name in ("feature", "what it is", "units (layer:unit state, r)"):
        table.add_column(name, overflow="fold")
    for found in report.found:
        units = ", ".join(f"{ref} {r:+.2f}" for ref, r in found.units) if found.varies else "not in this text"
        table.add_row(found.feature.name, found.feature.description, units)
    return table
