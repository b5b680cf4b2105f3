"""The rich progress display for training, on stderr (stdout stays free for data)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from charrnn.train.observers import RunInfo, TrainObserver


class RichReporter(TrainObserver):
    """A live bar (epoch, step, train and val bits/char, chars/s, ETA) plus a line per evaluation."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]:.2f}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("train {task.fields[train_bpc]} bpc · val {task.fields[val_bpc]} bpc"),
            TextColumn("· {task.fields[speed]} chars/s · ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: TaskID | None = None

    def on_start(self, info: RunInfo) -> None:
        verb = f"resuming at step {info.start_step}" if info.resumed else "training"
        self.console.print(
            f"[bold]{verb}[/] on {escape(info.corpus_path)}: {info.train_chars:,} train / "
            f"{info.val_chars:,} val characters, vocabulary {info.vocab_size}, "
            f"{info.num_parameters:,} parameters, {info.device} {info.precision} "
            f"({info.threads} thread{'s' if info.threads != 1 else ''}) → {escape(info.checkpoint_dir)}/"
        )
        self.progress.start()
        self.task = self.progress.add_task(
            "train",
            total=info.total_steps,
            completed=info.start_step,
            epoch=info.start_step / info.windows_per_epoch,
            train_bpc="–",
            val_bpc="–",
            speed="–",
        )

    def on_log(self, record: dict[str, Any]) -> None:
        if self.task is None:
            return
        self.progress.update(
            self.task,
            completed=record["step"],
            epoch=record["epoch"],
            train_bpc=f"{record['train_bpc']:.3f}",
            speed=f"{record['chars_per_sec']:,.0f}",
        )

    def on_eval(self, record: dict[str, Any], sample: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=record["step"], val_bpc=f"{record['val_bpc']:.3f}")
        mark = " [green]best[/]" if record["best"] else ""
        self.progress.console.print(
            f"step {record['step']}: val {record['val_loss']:.4f} nats/char, "
            f"{record['val_bpc']:.4f} bits/char, perplexity {record['val_perplexity']:.2f}{mark}"
        )
        if sample:
            self.progress.console.print(Text(sample, style="dim"))

    def on_plan(self, record: dict[str, Any]) -> None:
        if self.task is not None:
            self.progress.update(self.task, total=record["total_steps"])

    def on_message(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        if self.task is not None:  # stopping a display never started would print a blank line
            self.progress.stop()
