"""`charrnn train`: its options, declared once, with their defaults taken from TrainConfig."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from charrnn.cli.output import err_console, user_errors
from charrnn.errors import ConfigError
from charrnn.options import DEFAULT_CHECKPOINT_DIR
from charrnn.train.config import TrainConfig
from charrnn.train.presets import describe_presets


def _default(name: str) -> Any:
    """Defaults live once, in TrainConfig."""
    return TrainConfig.__dataclass_fields__[name].default


def train_command(
    ctx: typer.Context,
    corpus: Annotated[
        list[Path] | None,
        typer.Argument(
            help="UTF-8 text to train on: files, or folders of them (every text file under each, "
            "sorted; hidden ones left out). Default: corpora/tinyshakespeare.txt.",
            show_default=False,
        ),
    ] = None,
    checkpoint_dir: Annotated[
        Path, typer.Option(help="Where last.pt, best.pt and metrics.jsonl go.")
    ] = DEFAULT_CHECKPOINT_DIR,
    cell: Annotated[
        str,
        typer.Option(
            help="Recurrent cell: lstm, gru, rnn (tanh), mrnn (Sutskever 2011) or mlstm (Krause 2016)."
        ),
    ] = _default("cell"),
    num_layers: Annotated[int, typer.Option("--layers", help="Stacked recurrent layers.")] = _default(
        "num_layers"
    ),
    hidden_size: Annotated[
        int | None,
        typer.Option(
            "--hidden",
            help="Hidden units per layer. Default: a GRU run that only --max-minutes limits is "
            "sized to what the budget buys on this machine (docs/training.md); others take 384.",
            show_default=False,
        ),
    ] = _default("hidden_size"),
    embed_size: Annotated[int, typer.Option("--embed", help="Character embedding size.")] = _default(
        "embed_size"
    ),
    factors: Annotated[
        int, typer.Option(help="mrnn/mlstm: size of the multiplicative factor layer (0 = --hidden).")
    ] = _default("factors"),
    dropout: Annotated[
        float, typer.Option(help="Dropout between layers and before the output layer, in [0, 1).")
    ] = _default("dropout"),
    val_frac: Annotated[
        float, typer.Option(help="Last fraction of the text held out for validation.")
    ] = _default("val_frac"),
    batch_size: Annotated[int, typer.Option(help="Parallel contiguous streams per step.")] = _default(
        "batch_size"
    ),
    seq_len: Annotated[int, typer.Option(help="Characters per window (truncated BPTT length).")] = _default(
        "seq_len"
    ),
    lr: Annotated[
        float, typer.Option(help="Peak learning rate (AdamW); 2e-3 when --cell is mrnn, unless given.")
    ] = _default("lr"),
    min_lr_frac: Annotated[
        float, typer.Option(help="Final learning rate as a fraction of --lr (cosine decay).")
    ] = _default("min_lr_frac"),
    warmup_steps: Annotated[int, typer.Option(help="Steps of linear learning-rate warm-up.")] = _default(
        "warmup_steps"
    ),
    decay_frac: Annotated[
        float,
        typer.Option(
            help="The plan's last fraction of steps, in which the rate decays (cosine) to the floor; "
            "until then a budget's plan follows the machine's speed."
        ),
    ] = _default("decay_frac"),
    weight_decay: Annotated[float, typer.Option(help="AdamW decoupled weight decay (0 = Adam).")] = _default(
        "weight_decay"
    ),
    grad_clip: Annotated[float, typer.Option(help="Clip the global gradient norm to this value.")] = _default(
        "grad_clip"
    ),
    epochs: Annotated[
        float | None,
        typer.Option(
            help="Stop after this many passes over the training text (may be fractional; "
            "default: no epoch limit, the time budget sizes the run)."
        ),
    ] = _default("epochs"),
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many optimizer steps.")] = None,
    max_minutes: Annotated[
        float,
        typer.Option(help="Time budget of the whole run, turned into a step plan early on; 0 = no limit."),
    ] = _default("max_minutes"),
    eval_every: Annotated[
        int | None,
        typer.Option(
            help="Validate, sample and checkpoint every N steps, and at the end (default: about once "
            "a minute, set from the measured speed)."
        ),
    ] = _default("eval_every"),
    val_segments: Annotated[
        int | None,
        typer.Option(
            help="Validate in K contiguous segments side by side, each after the 1,024 characters "
            "before it (1 = exact, slower; default: the last validation exact, those before in 16)."
        ),
    ] = _default("val_segments"),
    val_streams: Annotated[
        int | None, typer.Option("--val-streams", hidden=True, help="The old name of --val-segments.")
    ] = None,
    log_every: Annotated[int, typer.Option(help="Log train loss and speed every N steps.")] = _default(
        "log_every"
    ),
    sample_chars: Annotated[
        int, typer.Option(help="Characters of sample shown at each evaluation (0 = none).")
    ] = _default("sample_chars"),
    seed: Annotated[int, typer.Option(help="Random seed: same seed and options, same run.")] = (
        _default("seed")
    ),
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = _default("device"),
    precision: Annotated[
        str,
        typer.Option(help="fp32, bf16 (autocast) or auto (bf16 where the hardware computes it natively)."),
    ] = _default("precision"),
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: one per physical core).")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run saved in CHECKPOINT_DIR/last.pt.")
    ] = False,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Fine-tune: start from this checkpoint's weights and vocabulary (a run directory: its "
            "best.pt, else last.pt)."
        ),
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option(
            help="Repeat the run recorded in this run directory (or checkpoint) step for step, bit for "
            "bit, into --checkpoint-dir: its configuration, and every plan its budget settled.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Start over even if CHECKPOINT_DIR holds a run.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress display.")] = False,
    preset: Annotated[
        str | None,
        typer.Option(help=f"Start from a named configuration; explicit options win. {describe_presets()}."),
    ] = None,
) -> None:
    """Train a character language model on CORPUS.

    Example: charrnn train corpora/tinyshakespeare.txt --hidden 256 --max-minutes 5

    Example: charrnn train --preset sutskever2011 --max-minutes 60
    """
    with user_errors():
        _train(
            ctx, corpus, resume=resume, init_from=init_from, replay=replay, force=force, quiet=quiet,
            preset=preset,
        )  # fmt: skip


OLD_NAMES = {"val_streams": "val_segments"}  # hidden options: old name → the field it sets


def _train(
    ctx: typer.Context,
    corpus: list[Path] | None,
    *,
    resume: bool,
    init_from: Path | None,
    replay: Path | None,
    force: bool,
    quiet: bool,
    preset: str | None,
) -> None:
    """The options as given (or defaulted) → a TrainConfig → train(), with a progress display."""
    started = time.perf_counter()  # the budget counts from here, PyTorch's import included
    from charrnn.cli.progress import ProgressDisplay
    from charrnn.train.distributed import world_from_env
    from charrnn.train.loop import train
    from charrnn.train.run_config import check_start_options, config_for_replay, config_from_options

    fields = TrainConfig.__dataclass_fields__
    options = {k: str(v) if isinstance(v, Path) else v for k, v in ctx.params.items() if k in fields}
    options.pop("corpus", None)
    if options["max_minutes"] == 0:
        options["max_minutes"] = None
    given = {
        k: v for k, v in options.items() if getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE"
    }
    for old_name, name in OLD_NAMES.items():  # a flag's old name, still taken (scripts keep working)
        if ctx.params.get(old_name) is not None:
            options[name] = given[name] = ctx.params[old_name]
    check_start_options(resume, init_from, replay)
    plans: tuple = ()
    if replay is not None:
        if corpus or preset:
            raise ConfigError(
                f"{'a corpus' if corpus else '--preset'} cannot be given with --replay "
                "(the run repeats its recorded configuration)"
            )
        config, plans = config_for_replay(replay, {**given, "checkpoint_dir": options["checkpoint_dir"]})
    else:
        config = config_from_options(
            options, given, corpus=corpus, preset=preset, resume=resume, init_from=init_from
        )
    display = (
        None if quiet or not world_from_env().is_main else ProgressDisplay(err_console)
    )  # rank 0 reports
    try:
        result = train(
            config,
            [display] if display else [],
            resume=resume,
            init_from=init_from,
            force=force,
            started=started,
            replay=plans,
        )
    finally:
        if display:
            display.close()
    if display:
        display.summary(result)
    if result.exit_code:
        raise typer.Exit(result.exit_code)
