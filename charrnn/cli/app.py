"""The command line: option declarations that build a config and call one library function."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from charrnn import __version__
from charrnn.cli.progress import RichReporter
from charrnn.errors import CharRNNError, ConfigError
from charrnn.generate.sampling import SampleConfig
from charrnn.measure.dynamic import DynamicConfig
from charrnn.train.config import TrainConfig
from charrnn.train.distributed import world_from_env
from charrnn.train.loop import train
from charrnn.train.presets import apply_preset, describe_presets
from charrnn.train.start import check_start_options, config_for_resume, last_checkpoint_path

DEFAULT_CORPUS = Path("corpora") / "tinyshakespeare.txt"

app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Character-level recurrent language models: train, sample, measure.",
)
err_console = Console(stderr=True)


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


def default_corpus() -> Path:
    """The shipped Tiny Shakespeare: from the working directory, else beside the source tree."""
    if DEFAULT_CORPUS.exists():
        return DEFAULT_CORPUS
    beside_package = Path(__file__).resolve().parents[2] / DEFAULT_CORPUS
    return beside_package if beside_package.exists() else DEFAULT_CORPUS


def _explicit_options(ctx: typer.Context, values: dict[str, Any]) -> dict[str, Any]:
    """The options the user actually typed (not defaults), for --resume's checks."""
    source = ctx.get_parameter_source
    return {k: v for k, v in values.items() if getattr(source(k), "name", "") == "COMMANDLINE"}


def _default(name: str) -> Any:
    """Defaults live once, in TrainConfig."""
    return TrainConfig.__dataclass_fields__[name].default


@app.command("train")
def train_command(
    ctx: typer.Context,
    corpus: Annotated[
        Path | None,
        typer.Argument(help="UTF-8 text to train on (default: corpora/tinyshakespeare.txt)."),
    ] = None,
    checkpoint_dir: Annotated[Path, typer.Option(help="Where last.pt, best.pt and metrics.jsonl go.")] = Path(
        "checkpoints"
    ),
    cell: Annotated[
        str,
        typer.Option(
            help="Recurrent cell: lstm, gru, rnn (tanh), mrnn (Sutskever 2011) or mlstm (Krause 2016)."
        ),
    ] = _default("cell"),
    num_layers: Annotated[int, typer.Option("--layers", help="Stacked recurrent layers.")] = _default(
        "num_layers"
    ),
    hidden_size: Annotated[int, typer.Option("--hidden", help="Hidden units per layer.")] = _default(
        "hidden_size"
    ),
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
    weight_decay: Annotated[float, typer.Option(help="AdamW decoupled weight decay (0 = Adam).")] = _default(
        "weight_decay"
    ),
    grad_clip: Annotated[float, typer.Option(help="Clip the global gradient norm to this value.")] = _default(
        "grad_clip"
    ),
    epochs: Annotated[
        float, typer.Option(help="Stop after this many passes over the training text (may be fractional).")
    ] = _default("epochs"),
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many optimizer steps.")] = None,
    max_minutes: Annotated[
        float,
        typer.Option(
            help="Stop after this many minutes of this invocation; the decay fits it. 0 = no limit."
        ),
    ] = _default("max_minutes"),
    eval_every: Annotated[
        int, typer.Option(help="Validate, sample and checkpoint every N steps (and at the end).")
    ] = _default("eval_every"),
    val_streams: Annotated[
        int,
        typer.Option(help="Evaluate validation as K parallel contiguous segments (1 = exact, slower)."),
    ] = _default("val_streams"),
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
        str, typer.Option(help="fp32, bf16 (autocast) or auto (bf16 where measurably faster).")
    ] = _default("precision"),
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: one per physical core).")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run saved in CHECKPOINT_DIR/last.pt.")
    ] = False,
    init_from: Annotated[
        Path | None,
        typer.Option(help="Fine-tune: start from this checkpoint's weights and vocabulary."),
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
    options: dict[str, Any] = {
        k: str(v) if isinstance(v, Path) else v
        for k, v in ctx.params.items()
        if k in TrainConfig.__dataclass_fields__ and k != "corpus"
    }
    if options["max_minutes"] == 0:
        options["max_minutes"] = None
    typed = _explicit_options(ctx, options)

    def run() -> None:
        check_start_options(resume, init_from)
        if preset is not None and resume:
            raise ConfigError("--preset cannot be combined with --resume (the run keeps its configuration)")
        if resume:
            config = config_for_resume(checkpoint_dir, typed)
            if corpus is not None:
                config = replace(config, corpus=str(corpus))
        else:
            chosen = apply_preset(preset, options, typed)
            config = TrainConfig(corpus=str(corpus or default_corpus()), **chosen)
        _train(config, resume=resume, init_from=init_from, force=force, quiet=quiet)

    _run_reporting_errors(run)


def _train(config: TrainConfig, *, resume: bool, init_from: Path | None, force: bool, quiet: bool) -> None:
    quiet = quiet or not world_from_env().is_main  # under torchrun, rank 0 alone reports
    reporter = None if quiet else RichReporter(err_console)
    try:
        result = train(
            config, [reporter] if reporter else [], resume=resume, init_from=init_from, force=force
        )
    finally:
        if reporter:
            reporter.close()
    if not quiet:
        best = "–"
        if result.best_val_loss is not None:
            best = (
                f"{result.best_val_loss:.4f} nats/char ({result.best_val_loss / math.log(2):.4f} bits/char)"
            )
        err_console.print(
            f"stopped ({result.stop_reason.replace('_', ' ')}) at step {result.step} after "
            f"{result.seconds:.0f} s; best val {best}; checkpoints in "
            f"{result.checkpoint_dir}/ ({last_checkpoint_path(Path(result.checkpoint_dir)).name}"
            f"{', best.pt' if result.best_val_loss is not None else ''})"
        )
    if result.exit_code:
        raise typer.Exit(result.exit_code)


@app.command("sample")
def sample_command(
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Checkpoint to sample from (default: checkpoints/best.pt, else last.pt)."),
    ] = None,
    length: Annotated[int, typer.Option(help="Characters to generate, not counting the prime.")] = 1000,
    temperature: Annotated[
        float, typer.Option(help="Softmax temperature; 0 = greedy (always the likeliest character).")
    ] = 0.8,
    top_k: Annotated[int | None, typer.Option(help="Sample only among the K likeliest characters.")] = None,
    top_p: Annotated[
        float | None, typer.Option(help="Sample only within the smallest set of mass P (nucleus).")
    ] = None,
    prime: Annotated[
        str | None, typer.Option(help="Text to start from (newlines and any Unicode allowed).")
    ] = None,
    prime_file: Annotated[Path | None, typer.Option(help="Read the prime from this UTF-8 file.")] = None,
    echo_prime: Annotated[
        bool, typer.Option("--echo-prime/--no-echo-prime", help="Print the prime before the sample.")
    ] = True,
    skip_unknown: Annotated[
        bool, typer.Option("--skip-unknown", help="Drop prime characters the model does not know.")
    ] = False,
    seed: Annotated[
        int | None, typer.Option(help="Random seed: the same seed gives the same text (default: random).")
    ] = None,
    num_samples: Annotated[int, typer.Option(help="Independent samples, generated as one batch.")] = 1,
    stop: Annotated[
        str | None, typer.Option(help="End a sample after the first occurrence of this text.")
    ] = None,
    device: Annotated[
        str, typer.Option(help="cpu (default: batch-1 steps are latency-bound), cuda, mps, auto.")
    ] = "cpu",
) -> None:
    """Generate text from a checkpoint, streamed to stdout as it is generated.

    Example: charrnn sample --prime "ROMEO:" --length 500 --temperature 0.7 --seed 1
    """

    def run() -> None:
        from charrnn.generate.prime import write_samples

        write_samples(
            checkpoint=checkpoint,
            prime=prime,
            prime_file=prime_file,
            skip_unknown=skip_unknown,
            echo_prime=echo_prime,
            seed=seed,
            stop=stop,
            device=device,
            config=SampleConfig(
                length=length, temperature=temperature, top_k=top_k, top_p=top_p, num_samples=num_samples
            ),
            warn=lambda message: err_console.print(message, markup=False, highlight=False),
        )

    _run_reporting_errors(run)


@app.command("perplexity")
def perplexity_command(
    files: Annotated[
        list[str] | None,
        typer.Argument(
            help="Texts to measure (- = stdin). None: the validation part of the training corpus."
        ),
    ] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Checkpoint (default: checkpoints/best.pt, else last.pt).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object on stdout instead of a table.")
    ] = False,
    streams: Annotated[
        int, typer.Option(help="1 = exact; K > 1 scores K contiguous segments side by side (approximate).")
    ] = 1,
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
    device: Annotated[str, typer.Option(help="cpu (default), cuda, mps or auto.")] = "cpu",
    precision: Annotated[str, typer.Option(help="fp32 (default), bf16 or auto.")] = "fp32",
) -> None:
    """Cross-entropy, bits per character and perplexity, the state carried across each whole text.

    Example: charrnn perplexity corpora/tinyshakespeare.txt --json
    """

    def run() -> None:
        from charrnn.cli.output import run_perplexity
        from charrnn.measure.dynamic import DynamicConfig as Dynamic
        from charrnn.measure.perplexity import MeasureConfig

        dyn = Dynamic(lr=dynamic_lr, decay=dynamic_decay, seg_len=dynamic_seg_len) if dynamic else None
        config = MeasureConfig(
            streams=streams, unknown=unknown, baselines=baselines, precision=precision, dynamic=dyn
        )
        run_perplexity(
            files=list(files or []),
            checkpoint=checkpoint,
            config=config,
            device_name=device,
            as_json=as_json,
            console=err_console,
        )

    _run_reporting_errors(run)


@app.command("score")
def score_command(
    texts: Annotated[list[str] | None, typer.Argument(help="Candidate texts to compare.")] = None,
    file: Annotated[Path | None, typer.Option(help="More candidates: one per line of this file.")] = None,
    context: Annotated[
        str, typer.Option(help="Text every candidate follows (default: the start of a line).")
    ] = "",
    checkpoint: Annotated[
        Path | None, typer.Option(help="Checkpoint (default: checkpoints/best.pt, else last.pt).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object on stdout instead of a table.")
    ] = False,
    device: Annotated[str, typer.Option(help="cpu (default), cuda, mps or auto.")] = "cpu",
) -> None:
    """Rank texts by how probable the model finds them.

    Example: charrnn score "The red deer is a ruminant" "The red dear is a ruminant"
    """

    def run() -> None:
        from charrnn.cli.output import run_score

        run_score(
            texts=list(texts or []),
            file=file,
            context=context,
            checkpoint=checkpoint,
            device_name=device,
            as_json=as_json,
            console=err_console,
        )

    _run_reporting_errors(run)


@app.command("info")
def info_command(
    checkpoint: Annotated[
        Path | None,
        typer.Argument(
            help="A checkpoint, or a directory of them (default: checkpoints/: best.pt, else last.pt)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object on stdout instead of a table.")
    ] = False,
) -> None:
    """What a checkpoint holds: model, vocabulary, corpus, training progress and validation.

    Example: charrnn info checkpoints/best.pt --json
    """

    def run() -> None:
        import json

        from charrnn.measure.info import describe_checkpoint, render_info
        from charrnn.model.checkpoint import default_checkpoint

        if checkpoint is None or checkpoint.is_dir():
            checkpoint_file = default_checkpoint(checkpoint or Path("checkpoints"))
        else:
            checkpoint_file = checkpoint
        info = describe_checkpoint(checkpoint_file)
        if as_json:
            print(json.dumps(info))
        else:
            render_info(info, err_console)

    _run_reporting_errors(run)


@app.command("plot")
def plot_command(
    run_dirs: Annotated[
        list[Path] | None,
        typer.Argument(help="Checkpoint directories whose metrics.jsonl to draw (default: checkpoints/)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write a PNG here (needs matplotlib: pip install 'charrnn[plot]').")
    ] = None,
    terminal: Annotated[
        bool,
        typer.Option("--terminal", help="Draw the chart in the terminal (the default without --output)."),
    ] = False,
) -> None:
    """Train and validation bits per character (and the learning rate) against characters seen.

    Example: charrnn plot runs/a runs/b --output compare.png
    """

    def run() -> None:
        from charrnn.train.curves import load_curves

        runs = [load_curves(d) for d in (run_dirs or [Path("checkpoints")])]
        if output is not None:
            from charrnn.cli.plot_png import write_png

            write_png(runs, output)
            err_console.print(f"wrote {output}", highlight=False)
        if output is None or terminal:
            from charrnn.cli.plot_terminal import render_chart

            err_console.print(render_chart(runs), markup=False, highlight=False)

    _run_reporting_errors(run)


def _run_reporting_errors(fn: Any) -> None:
    """User-caused errors become one red line on stderr and exit code 1."""
    try:
        fn()
    except KeyboardInterrupt:  # before training's own handler is installed, or a second Ctrl-C
        err_console.print("interrupted", highlight=False)
        raise typer.Exit(130) from None
    except CharRNNError as e:
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def main() -> None:
    app(prog_name="charrnn")


if __name__ == "__main__":  # pragma: no cover
    main()
