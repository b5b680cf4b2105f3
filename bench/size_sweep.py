"""The sizing sweep: each network width's validation loss after N steps, for a grid of N, on a
corpus; what the default sizes its network from (docs/training.md, "A network sized to the
budget").

The learning rate of a run of N steps is at its peak until the decay starts at 65% of N
(--decay-frac 0.35), so runs of different lengths share their first steps bit for bit. One run
per width trains the longest plan; at the step where a shorter plan's decay starts, its
checkpoint is kept, and the shorter run is that checkpoint resumed with --max-steps N (resume
is bitwise exact, tests/test_reproducible.py). Each run is `--max-steps N --max-minutes 0`,
deterministic whatever else the machine does, with one thread, --jobs at a time. Every
validation reads the held-out part in 16 warmed segments.

    python bench/size_sweep.py --corpus corpora/tinyshakespeare.txt other.txt \
        --grid 256:400,800,1600 384:200,400,800 --jsonl bench/size_sweep.jsonl [--jobs 2] [--dropout D]

Jobs run width by width in the order given (every corpus of a width, then the next width).

A row of the output: corpus, width, options, steps, validation nats/char, chars seen, epochs.

    python bench/size_sweep.py --table bench/size_sweep.jsonl

prints the rule's table (train/sizing.py's CURVES): per width and steps, the mean validation
loss over the texts, where every text has that row, up to the steps where the shortest width's
curve ends (tests/test_sizing.py checks it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from machine import describe_machine


def _run(corpus: str, width: int, steps: list[int], extra: dict, root: Path) -> list[dict]:
    from charrnn.model.checkpoint import load_model
    from charrnn.train.budget import Budget
    from charrnn.train.config import TrainConfig
    from charrnn.train.loop import train
    from charrnn.train.observers import TrainObserver, Validated
    from charrnn.train.run_config import config_for_resume

    base = TrainConfig(
        corpus=corpus,
        checkpoint_dir=str(root / "stable"),
        hidden_size=width,
        max_steps=max(steps),
        max_minutes=None,
        eval_every=max(steps),
        val_segments=16,
        sample_chars=0,
        threads=1,
        log_every=100,
        **extra,
    )
    branches = {base.schedule.decay_start(n): n for n in steps if n != max(steps)}
    # validate (and so save last.pt) where a shorter plan's decay starts, and at the end
    Budget.validation_due = lambda self, step: step in branches or step >= self.run.plan.total_steps

    class Keep(TrainObserver):
        def on_validation(self, event: Validated) -> None:
            if event.validation.step in branches:
                shutil.copytree(root / "stable", root / f"n{branches[event.validation.step]}")

    rows = []

    def row(n: int, directory: Path, seconds: float) -> dict:
        loaded = load_model(directory / "last.pt")
        training = loaded.checkpoint.training
        assert training is not None and training.progress.step == n
        last = training.history[-1]
        train_chars = loaded.checkpoint.corpus.num_chars * (1 - base.val_frac)  # near enough
        return {
            "corpus": Path(corpus).name,
            "width": width,
            "options": extra,
            "steps": n,
            "val_nats_per_char": last.val_loss,
            "chars_seen": training.progress.chars_seen,
            "epochs": round(training.progress.chars_seen / max(train_chars, 1), 3),
            "seconds_1_thread": round(seconds, 1),
        }

    started = time.perf_counter()
    train(base, [Keep()])
    rows.append(row(max(steps), root / "stable", time.perf_counter() - started))
    for n in sorted(branches.values()):
        started = time.perf_counter()
        train(config_for_resume(root / f"n{n}", {"max_steps": n}), resume=True)
        rows.append(row(n, root / f"n{n}", time.perf_counter() - started))
    shutil.rmtree(root)
    return rows


def table(rows_file: Path) -> str:
    """CURVES as Python: {width: ((steps, mean nats/char), ...)} over the rows' texts."""
    rows = [json.loads(line) for line in rows_file.read_text().splitlines() if line.strip()]
    texts = {r["corpus"] for r in rows}
    cells: dict[tuple[int, int], dict[str, float]] = {}
    for r in rows:  # a later row of the same text, width and steps replaces an earlier one
        cells.setdefault((r["width"], r["steps"]), {})[r["corpus"]] = r["val_nats_per_char"]
    complete = {cell: by_text for cell, by_text in cells.items() if set(by_text) == texts}
    # every width's curve ends where the shortest one does, so that all extrapolate alike
    cap = min(max(n for w, n in complete if w == width) for width in {w for w, _ in complete})
    curves: dict[int, list[str]] = {}
    for (width, steps), by_text in sorted(complete.items()):
        if steps <= cap:
            curves.setdefault(width, []).append(f"({steps}, {sum(by_text.values()) / len(texts):.4f})")
    body = "\n".join(f"    {w}: ({', '.join(points)})," for w, points in curves.items())
    return f"# over {len(texts)} texts: {', '.join(sorted(texts))}\nCURVES = {{\n{body}\n}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, help="print the rule's table from this row file, and stop")
    parser.add_argument("--corpus", nargs="+")
    parser.add_argument("--grid", nargs="+", help="WIDTH:STEPS,STEPS,...")
    parser.add_argument("--dropout", type=float, default=None)
    parser.add_argument("--weight-decay", type=float, default=None)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--jsonl", type=Path, help="rows are appended as they come")
    parser.add_argument("--work", type=Path, default=Path("/tmp/size_sweep"))
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    if not (args.corpus and args.grid and args.jsonl):
        parser.error("--corpus, --grid and --jsonl are needed for a sweep")
    extra = {"precision": args.precision}
    if args.dropout is not None:
        extra["dropout"] = args.dropout
    if args.weight_decay is not None:
        extra["weight_decay"] = args.weight_decay
    machine = describe_machine()
    grid = {int(w): sorted(int(n) for n in ns.split(",")) for w, ns in (g.split(":") for g in args.grid)}
    jobs = [(c, w) for w in grid for c in args.corpus]
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = []
        for corpus, width in jobs:
            tag = "-".join(f"{k}{v}" for k, v in extra.items())
            root = args.work / f"{Path(corpus).stem}-{width}-{tag}"
            if root.exists():
                shutil.rmtree(root)
            futures.append(pool.submit(_run, str(Path(corpus).resolve()), width, grid[width], extra, root))
        for future in futures:
            rows = future.result()
            with args.jsonl.open("a") as f:
                for r in rows:
                    f.write(json.dumps({**r, "machine": machine}) + "\n")
            for r in rows:
                print(
                    f"{r['corpus']} {r['width']} {r['steps']:>6} {r['val_nats_per_char']:.4f} "
                    f"({r['epochs']:.2f} epochs, {r['seconds_1_thread']:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )


if __name__ == "__main__":
    main()
