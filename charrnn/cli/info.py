"""`charrnn info`: what a checkpoint holds, as a table on stderr or one JSON object on stdout."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from charrnn.cli.output import CheckpointOption, JsonOption, err_console, print_json, user_errors
from charrnn.data.sources import describe_corpus
from charrnn.errors import ConfigError

if TYPE_CHECKING:
    from rich.table import Table


def info_command(
    checkpoint: Annotated[
        Path | None,
        typer.Argument(
            help="A checkpoint, or a directory of them (default: checkpoints/: best.pt, else last.pt)."
        ),
    ] = None,
    checkpoint_option: CheckpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """What a checkpoint holds: model, vocabulary, corpus, training progress and validation.
    The checkpoint is named as an argument, or with --checkpoint as every other command names it.

    Example: charrnn info checkpoints/best.pt --json
    """
    with user_errors():
        from charrnn.api import load

        if checkpoint is not None and checkpoint_option is not None and checkpoint != checkpoint_option:
            raise ConfigError(
                f"two checkpoints given ({checkpoint} and --checkpoint {checkpoint_option}): give one"
            )
        info = load(checkpoint or checkpoint_option).info
        if as_json:
            print_json(info)
        else:
            err_console.print(_info_table(info))


def _show_chars(chars: list[str]) -> str:
    return " ".join(repr(c) if not c.isprintable() or c.isspace() else c for c in chars)


SHOWN_FILES = 10  # of a corpus of several files, in the table


def _info_table(info: dict[str, Any]) -> Table:
    from rich.table import Table

    model, vocab, corpus, train = info["model"], info["vocabulary"], info["corpus"], info["training"]
    table = Table(title=info["checkpoint"], show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    factors = (
        f", {model['factors'] or model['hidden_size']} factors" if model["cell"] in ("mrnn", "mlstm") else ""
    )
    shape = f"{model['num_layers']} × {model['hidden_size']} {model['cell']}{factors}"
    table.add_row(
        "model",
        f"{shape}, embedding {model['embed_size']}, dropout {model['dropout']:g}; "
        f"{model['parameters']:,} parameters",
    )
    table.add_row("vocabulary", f"{vocab['size']} characters: {_show_chars(vocab['chars'])}")
    if corpus:
        files = corpus["files"]
        named = describe_corpus(corpus["sources"], len(files))
        digest = f", sha256 {files[0]['sha256'][:16]}…" if len(files) == 1 else ""
        table.add_row(
            "corpus",
            f"{named}, {corpus['size']:,} bytes, {corpus['num_chars']:,} characters{digest}, "
            f"validation {corpus['val_frac']}" + (" of each file" if len(files) > 1 else ""),
        )
        if len(files) > 1:
            shown = ", ".join(f["path"] for f in files[:SHOWN_FILES])
            hidden = len(files) - SHOWN_FILES
            more = f" and {hidden} more (--json lists all)" if hidden > 0 else ""
            table.add_row("files", shown + more)
    if train["step"] is not None:
        table.add_row(
            "training",
            f"step {train['step']:,}, {train['epochs']:.2f} epochs, {train['chars_seen']:,} characters, "
            f"{train['seconds'] / 60:.1f} min, {train['precision']}",
        )
    if plan := train.get("plan"):
        settled = "" if plan["settled"] else ", not yet settled against the time budget"
        table.add_row(
            "plan", f"{plan['total_steps']:,} steps, set by --{plan['limited_by'].replace('_', '-')}{settled}"
        )
    for which in ("best", "last"):
        nats = train.get(f"{which}_val_nats_per_char")
        if nats is not None:
            table.add_row(
                f"{which} validation",
                f"{nats:.4f} nats/char, {train[f'{which}_val_bits_per_char']:.4f} bits/char",
            )
    if train["config"]:
        table.add_row("configuration", ", ".join(f"{k}={v}" for k, v in train["config"].items()))
    table.add_row("format", f"version {info['format_version']}, written by charrnn {info['charrnn_version']}")
    return table
