"""The `charrnn` command: the Typer application and its commands, one module each.

Nothing here imports PyTorch: `charrnn --help`, `--version` and shell completion answer at
once, and each command imports what it needs when it runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from charrnn import __version__
from charrnn.cli.export import export_command
from charrnn.cli.info import info_command
from charrnn.cli.measure import perplexity_command, score_command
from charrnn.cli.plot import plot_command
from charrnn.cli.sample import sample_command
from charrnn.cli.serve import serve_command
from charrnn.cli.train import train_command
from charrnn.cli.tune import tune_command
from charrnn.cli.visualize import visualize_command

app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Character-level recurrent language models: train, sample, measure.",
)


def _version(value: bool) -> None:
    if value:
        print(f"charrnn {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Character-level recurrent language models: train, sample, measure."""


app.command("train")(train_command)
app.command("tune")(tune_command)
app.command("sample")(sample_command)
app.command("perplexity")(perplexity_command)
app.command("score")(score_command)
app.command("info")(info_command)
app.command("plot")(plot_command)
app.command("serve")(serve_command)
app.command("visualize")(visualize_command)
app.command("export")(export_command)
