"""`charrnn serve`: a model in the browser and over HTTP, until Ctrl-C."""

from __future__ import annotations

from typing import Annotated

import typer

from charrnn.cli.output import CheckpointOption, err_console, user_errors
from charrnn.serve.config import ServeConfig


def serve_command(
    checkpoint: CheckpointOption = None,
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on; 127.0.0.1 (the default) is this machine alone, 0.0.0.0 all."
        ),
    ] = ServeConfig.host,
    port: Annotated[int, typer.Option(help="TCP port; 0 = any free one (the one chosen is printed).")] = (
        ServeConfig.port
    ),
    device: Annotated[
        str, typer.Option(help="cpu (default: batch-1 steps are latency-bound), cuda, mps, auto.")
    ] = "cpu",
    max_length: Annotated[
        int, typer.Option(help="The most characters one sample may ask for.")
    ] = ServeConfig.max_length,
    max_body: Annotated[int, typer.Option(help="The largest request body, in bytes.")] = ServeConfig.max_body,
    max_concurrent: Annotated[
        int, typer.Option(help="Samples and measurements computed at once; others wait their turn.")
    ] = ServeConfig.max_concurrent,
    max_waiting: Annotated[
        int, typer.Option(help="Requests that may wait for a turn; beyond them, 503 (try again).")
    ] = ServeConfig.max_waiting,
    threads: Annotated[
        int, typer.Option(help="CPU threads of one computation (requests side by side are the parallelism).")
    ] = ServeConfig.threads,
    access_log: Annotated[bool, typer.Option("--access-log", help="A line on stderr per request.")] = False,
) -> None:
    """Serve a model: a playground page at / (generate, streamed; colour text by surprise), a JSON
    API under /api, its docs at /docs. Ctrl-C stops it.

    Example: charrnn serve --checkpoint checkpoints/best.pt --port 8000
    """
    with user_errors():
        from charrnn.serve.config import check_installed, limit_blas_threads

        config = ServeConfig(
            host=host,
            port=port,
            max_length=max_length,
            max_body=max_body,
            max_concurrent=max_concurrent,
            max_waiting=max_waiting,
            threads=threads,
            access_log=access_log,
        )
        limit_blas_threads(config.threads)  # before NumPy is imported
        check_installed()
        from charrnn.api import load
        from charrnn.serve.run import serve

        serve(load(checkpoint, device), config, _say)


def _say(message: str) -> None:
    """One line on stderr, however long (the address in it is read by people and by scripts)."""
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)
