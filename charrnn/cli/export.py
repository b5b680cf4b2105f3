"""`charrnn export`: its options, and one line on stderr saying what was written."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from charrnn.cli.output import CheckpointOption, tell, user_errors


def export_command(
    format: Annotated[
        str, typer.Option("--format", help="onnx, safetensors (a directory) or html (one page).")
    ],
    output: Annotated[Path, typer.Option("--output", help="The file to write (safetensors: a directory).")],
    checkpoint: CheckpointOption = None,
    weights: Annotated[
        str | None,
        typer.Option(help="html: the weights' type: fp16 (default), fp32 (exact) or int8 (smallest)."),
    ] = None,
) -> None:
    """Write a model for use beyond charrnn: an ONNX graph, safetensors weights with a config,
    or one HTML page that samples offline in any browser.

    Example: charrnn export --format html --output model.html
    """
    with user_errors():
        from charrnn.export.formats import export_model

        exported = export_model(checkpoint, format, output, weights)
        written = ", ".join(str(f) for f in exported.files)
        size = f"{exported.size / 1e6:.2f} MB, {exported.weights} weights"
        tell(f"wrote {written} ({size}) from {exported.checkpoint}")
