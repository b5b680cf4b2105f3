"""`charrnn tune`: its options, and the study's trials as a rich table on stderr or, with --json,
one JSON object on stdout."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from charrnn.cli.output import DeviceOption, JsonOption, err_console, print_json, tell, user_errors
from charrnn.errors import ConfigError
from charrnn.options import DEFAULT_VAL_FRAC

if TYPE_CHECKING:
    from rich.table import Table

    from charrnn.tune.study import TuneResult


def tune_command(
    corpus: Annotated[
        list[Path] | None,
        typer.Argument(
            help="UTF-8 text to tune on: files or folders, as for charrnn train.", show_default=False
        ),
    ] = None,
    minutes: Annotated[float, typer.Option(help="The study's trial time, every trial together.")] = 60.0,
    trial_minutes: Annotated[
        float | None,
        typer.Option(
            help="Each trial's budget (the last ones get what is left). Default: max(2, minutes / 6)."
        ),
    ] = None,
    refit_minutes: Annotated[
        float | None,
        typer.Option(help="The last trial's budget: the best recipe again. Default: minutes/3; 0: none."),
    ] = None,
    checkpoint_dir: Annotated[
        Path, typer.Option(help="The study's directory: its journal, trials/NNN, best.pt.")
    ] = Path("checkpoints/tune"),
    storage: Annotated[
        str | None,
        typer.Option(
            help="An Optuna storage URL (e.g. postgresql://host/db) that processes on several "
            "machines share. Default: a journal file in --checkpoint-dir."
        ),
    ] = None,
    study: Annotated[str, typer.Option("--study", help="The study's name in its storage.")] = "charrnn",
    seed: Annotated[int, typer.Option(help="Seeds the sampler and every trial's training.")] = 1234,
    val_frac: Annotated[
        float, typer.Option(help="Last fraction of the text held out for validation.")
    ] = DEFAULT_VAL_FRAC,
    device: DeviceOption = "auto",
    precision: Annotated[str, typer.Option(help="auto (bf16 where it is native), bf16 or fp32.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: one per physical core).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Search training recipes on Optuna: trials of charrnn train, pruned on their validation curves.

    Ctrl-C stops after the running trial saves; the same command resumes the study.

    Example: charrnn tune corpora/tinyshakespeare.txt --minutes 60
    """
    with user_errors():
        from charrnn.train.config import default_corpus
        from charrnn.tune.study import TuneConfig, tune

        paths = [str(p) for p in corpus] if corpus else [str(default_corpus())]
        for path in paths:
            if not Path(path).exists():
                raise ConfigError(f"{path}: no such file or folder to tune on")
        config = TuneConfig(
            corpus=tuple(paths),
            run_dir=str(checkpoint_dir),
            minutes=minutes,
            trial_minutes=trial_minutes,
            refit_minutes=refit_minutes,
            storage=storage,
            study_name=study,
            seed=seed,
            val_frac=val_frac,
            device=device,
            precision=precision,
            threads=threads,
        )
        result = tune(config, tell)
        if as_json:
            print_json(_document(result))
        else:
            # a log file gets the whole table, not one cut to 80 columns
            from rich.console import Console

            wide = err_console if err_console.is_terminal else Console(stderr=True, width=200)
            wide.print(trials_table(result))
        if result.best is not None:
            tell(f"best: trial {result.best.number}, {result.best.value:.4f} nats/char")
            if result.best.command:
                tell(f"repeat it: {result.best.command}")
            if result.best_checkpoint:
                tell(f"its checkpoint: {result.best_checkpoint}")
        if result.interrupted:
            tell("interrupted: the same command resumes the study")
            raise typer.Exit(130)


def _document(result: TuneResult) -> dict:
    return {
        "trials": [asdict(t) for t in result.trials],
        "best": None if result.best is None else asdict(result.best),
        "best_checkpoint": result.best_checkpoint,
        "interrupted": result.interrupted,
    }


def trials_table(result: TuneResult) -> Table:
    from rich.table import Table

    table = Table(title="trials", title_justify="left")
    names = sorted({k for t in result.trials for k in t.params})
    for column in ("#", "state", "nats/char", "minutes", *names):
        table.add_column(column, justify="right" if column not in ("state", "cell", "hidden") else "left")
    for t in result.trials:
        best = result.best is not None and t.number == result.best.number
        values = [
            f"{t.params[k]:.3g}" if isinstance(t.params.get(k), float) else str(t.params.get(k, ""))
            for k in names
        ]
        table.add_row(
            str(t.number) + (" refit" if t.refit else "") + (" *" if best else ""),
            t.state.lower(),
            "" if t.value is None else f"{t.value:.4f}",
            "" if t.minutes is None else f"{t.minutes:.1f}",
            *values,
        )
    return table
