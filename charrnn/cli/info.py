"""`charrnn info`: what a checkpoint holds, as a table on stderr or one JSON object on stdout."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from charrnn.cli.output import CheckpointOption, JsonOption, err_console, print_json, user_errors
from charrnn.data.sources import describe_corpus
from charrnn.errors import ConfigError

if TYPE_CHECKING:
    from rich.table import Table

    from charrnn.measure.info import CheckpointInfo


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
        from charrnn.measure.info import CheckpointInfo

        model = load(checkpoint or checkpoint_option)
        about = CheckpointInfo.of(model.loaded, model.path)
        if as_json:
            print_json(about.to_dict())
        else:
            err_console.print(_info_table(about))


def _show_chars(chars: list[str]) -> str:
    return " ".join(repr(c) if not c.isprintable() or c.isspace() else c for c in chars)


SHOWN_FILES = 10  # of a corpus of several files, in the table


def _info_table(about: CheckpointInfo) -> Table:
    from rich.table import Table

    checkpoint, train = about.checkpoint, about.training
    model, vocab, corpus = checkpoint.model_config, checkpoint.vocabulary, checkpoint.corpus
    table = Table(title=str(about.path), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    factors = f", {model.factor_size} factors" if model.cell in ("mrnn", "mlstm") else ""
    shape = f"{model.num_layers} × {model.hidden_size} {model.cell}{factors}"
    table.add_row(
        "model",
        f"{shape}, embedding {model.embed_size}, dropout {model.dropout:g}; {about.parameters:,} parameters",
    )
    table.add_row("vocabulary", f"{vocab.size} characters: {_show_chars(list(vocab.chars))}")
    if corpus:
        files = corpus.files
        named = describe_corpus(corpus.sources, len(files))
        digest = f", sha256 {files[0].sha256[:16]}…" if len(files) == 1 else ""
        table.add_row(
            "corpus",
            f"{named}, {sum(f.size for f in files):,} bytes, {corpus.num_chars:,} characters{digest}, "
            f"validation {corpus.val_frac}" + (" of each file" if len(files) > 1 else ""),
        )
        if len(files) > 1:
            shown = ", ".join(f.path for f in files[:SHOWN_FILES])
            hidden = len(files) - SHOWN_FILES
            more = f" and {hidden} more (--json lists all)" if hidden > 0 else ""
            table.add_row("files", shown + more)
    if train is not None:
        table.add_row(
            "training",
            f"step {train.step:,}, {train.epochs:.2f} epochs, {train.chars_seen:,} characters, "
            f"{train.seconds / 60:.1f} min, {train.precision}",
        )
        if plan := train.plan:
            settled = "" if plan.settled else ", not yet settled against the time budget"
            table.add_row(
                "plan", f"{plan.total_steps:,} steps, set by --{plan.limited_by.replace('_', '-')}{settled}"
            )
        if sizing := train.sizing:
            table.add_row(
                "sizing",
                f"--hidden {sizing.width} of "
                + ", ".join(
                    f"{c.width} ({c.steps:,} steps → {c.expected_loss:.3f})" for c in sizing.candidates
                )
                + f", for the {sizing.budget_seconds / 60:g}-minute budget",
            )
        for which, nats, bits in (
            ("best", train.best_val_loss, train.best_val_bits),
            ("last", train.last_val_loss, train.last_val_bits),
        ):
            if nats is not None:
                table.add_row(f"{which} validation", f"{nats:.4f} nats/char, {bits:.4f} bits/char")
        if train.config:
            table.add_row("configuration", ", ".join(f"{k}={v}" for k, v in train.config.items()))
    table.add_row(
        "format", f"version {checkpoint.format_version}, written by charrnn {checkpoint.written_by}"
    )
    return table
