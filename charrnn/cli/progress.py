"""The rich progress display for training, on stderr (stdout stays free for data).

On a terminal: a live bar. Elsewhere (a log file, CI, nohup), where a live bar cannot redraw: a
plain line at least every PLAIN_SECONDS, so that a log shows a run's progress as it goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import (
    Progress as ProgressBar,
)
from rich.text import Text

from charrnn.measure.loss import LN2
from charrnn.train.loop import TrainResult
from charrnn.train.observers import PlanSettled, RunStarted, StepsLogged, TrainObserver, Validated

# A plain progress line is printed at the first log event this long after the previous line;
# log events come every --log-every steps (a few seconds apart at the defaults).
PLAIN_SECONDS = 20.0


class ProgressDisplay(TrainObserver):
    """A live bar (epoch, step, train and val bits/char, chars/s, ETA) plus a line per validation;
    plain lines instead of the bar where the console is not a terminal."""

    def __init__(self, console: Console, clock: Callable[[], float] = time.monotonic) -> None:
        self.console, self.clock = console, clock
        self.live = console.is_terminal
        self.last_line = -float("inf")
        self.total_steps: int | None = None
        self.val_bpc = "–"
        self.bar = ProgressBar(
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

    def on_start(self, event: RunStarted) -> None:
        verb = f"resuming at step {event.start_step}" if event.resumed else "training"
        self.console.print(
            f"[bold]{verb}[/] on {escape(event.corpus)}: {event.train_chars:,} train / "
            f"{event.val_chars:,} val characters, vocabulary {event.vocab_size}, "
            f"{event.num_parameters:,} parameters, {event.device} {event.precision} "
            f"({event.threads} thread{'s' if event.threads != 1 else ''}) → {escape(event.checkpoint_dir)}/",
            soft_wrap=True,
        )
        self.total_steps = event.total_steps
        self.last_line = self.clock()
        if not self.live:
            return
        self.bar.start()
        self.task = self.bar.add_task(
            "train",
            total=event.total_steps,
            completed=event.start_step,
            epoch=event.start_step / event.windows_per_epoch,
            train_bpc="–",
            val_bpc="–",
            speed="–",
        )

    def on_log(self, event: StepsLogged) -> None:
        if not self.live and self.clock() - self.last_line >= PLAIN_SECONDS:
            self.last_line = self.clock()
            self.console.print(
                _plain_line(event, self.val_bpc), markup=False, highlight=False, soft_wrap=True
            )
        if self.task is not None:
            self.bar.update(
                self.task,
                completed=event.step,
                epoch=event.epoch,
                train_bpc=f"{event.train_bpc:.3f}",
                speed=f"{event.chars_per_sec:,.0f}",
            )

    def on_validation(self, event: Validated) -> None:
        v = event.validation
        self.val_bpc = f"{v.val_bpc:.3f}"
        if self.task is not None:
            self.bar.update(self.task, completed=v.step, val_bpc=f"{v.val_bpc:.3f}")
        mark = " [green]best[/]" if v.best else ""
        self.bar.console.print(
            f"step {v.step}: val {v.val_loss:.4f} nats/char, "
            f"{v.val_bpc:.4f} bits/char, perplexity {v.val_perplexity:.2f}{mark}",
            soft_wrap=True,
        )
        if event.sample:
            self.bar.console.print(Text(event.sample, style="dim"))

    def on_plan(self, event: PlanSettled) -> None:
        if self.task is not None:
            self.bar.update(self.task, total=event.plan.total_steps)

    def on_message(self, text: str) -> None:
        self.bar.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self.task is not None:  # stopping a display never started would print a blank line
            self.bar.stop()

    def summary(self, result: TrainResult) -> None:
        """One line for the end of the run: why it stopped, where, and how well it did."""
        best = "–"
        if result.best_val_loss is not None:
            best = f"{result.best_val_loss:.4f} nats/char ({result.best_val_loss / LN2:.4f} bits/char)"
        files = "last.pt, best.pt" if result.best_val_loss is not None else "last.pt"
        self.console.print(
            f"stopped ({result.stop_reason.replace('_', ' ')}) at step {result.step} after "
            f"{result.seconds:.0f} s; best val {best}; checkpoints in {result.checkpoint_dir}/ ({files})",
            soft_wrap=True,
        )


def _plain_line(event: StepsLogged, val_bpc: str) -> str:
    """`step 120/2,400 · epoch 0.38 · train 2.512 bpc · val – bpc · 21,000 chars/s · 18 s · ETA 6:05`"""
    line = (
        f"step {event.step:,}/{f'{event.total_steps:,}' if event.total_steps else '?'} · "
        f"epoch {event.epoch:.2f} · train {event.train_bpc:.3f} bpc · val {val_bpc} bpc · "
        f"{event.chars_per_sec:,.0f} chars/s · {event.seconds:.0f} s"
    )
    if event.total_steps and event.step and event.chars_per_sec > 0:
        remaining = (event.total_steps - event.step) * event.chars_seen / event.step / event.chars_per_sec
        line += f" · ETA {int(remaining) // 60}:{int(remaining) % 60:02d}"
    return line
