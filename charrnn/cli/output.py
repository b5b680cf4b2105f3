"""Where the CLI's output goes: requested data (samples, --json) to stdout, everything else
(progress, tables, warnings, errors) to stderr through rich; and a user's mistake as one red
line and exit code 1."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from charrnn.errors import CharRNNError

err_console = Console(stderr=True)

# Options several commands share, declared once.
CheckpointOption = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint",
        help="A checkpoint, or a run directory: its best.pt, else last.pt (default: checkpoints/).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object on stdout instead of a table.")]
DeviceOption = Annotated[str, typer.Option("--device", help="cpu (default), cuda, mps or auto.")]


def tell(message: str) -> None:
    """A plain line on stderr (no rich markup read into it), never cut into several lines: a log
    file keeps it whole whatever the console's width."""
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)


def print_json(document: Any) -> None:
    print(json.dumps(document), file=sys.stdout)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Errors a user can cause become one red line on stderr and exit code 1."""
    try:
        yield
    except KeyboardInterrupt:  # before training's own handler is installed, or a second Ctrl-C
        err_console.print("interrupted", highlight=False)
        raise typer.Exit(130) from None
    except CharRNNError as e:
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
