"""`charrnn plot`: training curves (bits per character and the learning rate against characters
seen, from metrics.jsonl) as a PNG through matplotlib, or as a chart on stderr through uniplot
(braille-resolution, coloured on a terminal); both come with the `plot` extra (pip install
'charrnn[plot]'), and without uniplot the chart is drawn in plain characters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from charrnn.cli.output import err_console, tell, user_errors
from charrnn.errors import ConfigError
from charrnn.files import atomic_write
from charrnn.options import DEFAULT_CHECKPOINT_DIR
from charrnn.train.curves import Curves, load_curves


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
    """Train and validation bits per character (and the learning rate) against characters seen;
    a `charrnn tune` directory draws each of its trials.

    Example: charrnn plot runs/a runs/b --output compare.png
    """
    with user_errors():
        runs = [load_curves(d) for d in _with_trials(run_dirs or [DEFAULT_CHECKPOINT_DIR])]
        if output is not None:
            write_png(runs, output)
            err_console.print(f"wrote {output}", highlight=False)
        if output is None or terminal:
            tell(terminal_chart(runs, color=err_console.is_terminal))


def _with_trials(run_dirs: list[Path]) -> list[Path]:
    """Each directory as given, but a `charrnn tune` directory stands for its trials."""
    expanded = []
    for directory in run_dirs:
        trials = sorted(p for p in (directory / "trials").glob("*") if (p / "metrics.jsonl").exists())
        expanded.extend(trials if trials and not (directory / "metrics.jsonl").exists() else [directory])
    return expanded


def make_figure(runs: list[Curves]) -> Any:
    """Bits per character (train dashed, validation solid) over the learning rate, shared x."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError(
            "PNG output needs matplotlib: pip install 'charrnn[plot]' (or use --terminal)"
        ) from None
    fig, (bpc, lr) = plt.subplots(2, 1, sharex=True, figsize=(8, 6), height_ratios=[3, 1])
    for run in runs:
        if run.train_bpc:
            line = bpc.plot(*zip(*run.train_bpc, strict=True), linestyle="--", label=f"{run.name} train")[0]
            color = line.get_color()
        else:
            color = None
        if run.val_bpc:
            bpc.plot(*zip(*run.val_bpc, strict=True), marker="o", color=color, label=f"{run.name} validation")
        if run.lr:
            lr.plot(*zip(*run.lr, strict=True), color=color)
    bpc.set_ylabel("bits per character")
    bpc.legend()
    bpc.grid(alpha=0.3)
    lr.set_ylabel("learning rate")
    lr.set_xlabel("characters seen")
    lr.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def write_png(runs: list[Curves], output: Path) -> Any:
    fig = make_figure(runs)
    try:
        atomic_write(output, lambda f: fig.savefig(f, dpi=120, format="png"))
    except OSError as e:
        raise ConfigError(f"could not write {output}: {e.strerror or e}") from None
    return fig


def terminal_chart(runs: list[Curves], width: int = 70, height: int = 16, color: bool = False) -> str:
    """The runs' bits per character in the terminal: through uniplot (training a line, validation
    a line with its points, one colour a run when `color`), else `render_chart`; each run's last
    validation below."""
    try:
        from uniplot import plot_to_string
    except ImportError:
        return render_chart(runs, width, height)
    series = [
        (f"{run.name} {kind}", points)
        for run in runs
        for kind, points in (("training", run.train_bpc), ("validation", run.val_bpc))
        if points
    ]
    chart = plot_to_string(
        ys=[[y for _, y in points] for _, points in series],
        xs=[[x for x, _ in points] for _, points in series],
        legend_labels=[label for label, _ in series],
        lines=[True] * len(series),
        title="bits per character, against characters seen",
        width=width,
        height=height,
        color=color,
        character_set="braille",
    )
    return "\n".join([chart, *_last_validations(runs, [""] * len(runs))])


def _last_validations(runs: list[Curves], marks: list[str]) -> list[str]:
    lines = []
    for run, mark in zip(runs, marks, strict=True):
        last = f", last validation {run.val_bpc[-1][1]:.4f}" if run.val_bpc else ""
        lines.append(f"  {mark}{run.name} validation (. training){last}" if mark else f"  {run.name}{last}")
    return lines


MARKERS = "o*x+#@%&"


def render_chart(runs: list[Curves], width: int = 70, height: int = 16) -> str:
    """A chart in plain characters (without uniplot): one marker per run, validation points as the
    marker, training points as '.' in the run's column; axes labelled with bits per character and
    characters seen."""
    points = [(x, y) for r in runs for s in (r.train_bpc, r.val_bpc) for x, y in s]
    x_max = max(x for x, _ in points) or 1.0
    y_min, y_max = min(y for _, y in points), max(y for _, y in points)
    if y_max - y_min < 1e-9:
        y_min, y_max = y_min - 0.5, y_max + 0.5
    grid = [[" "] * width for _ in range(height)]

    def put(x: float, y: float, mark: str) -> None:
        col = min(width - 1, int(x / x_max * (width - 1)))
        row = min(height - 1, int((y_max - y) / (y_max - y_min) * (height - 1)))
        if grid[row][col] == " " or mark != ".":
            grid[row][col] = mark

    for k, run in enumerate(runs):
        for x, y in run.train_bpc:
            put(x, y, ".")
        for x, y in run.val_bpc:
            put(x, y, MARKERS[k % len(MARKERS)])
    lines = ["bits per character"]
    for i, row in enumerate(grid):
        label = y_max - i * (y_max - y_min) / (height - 1)
        lines.append(f"{label:7.3f} |{''.join(row)}")
    lines.append(" " * 8 + "+" + "-" * width)
    lines.append(" " * 9 + f"0{'characters seen':^{width - 12}}{x_max:,.0f}")
    lines += _last_validations(runs, [f"{MARKERS[k % len(MARKERS)]} " for k in range(len(runs))])
    return "\n".join(lines)
