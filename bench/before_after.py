"""The default `charrnn train` of two source trees side by side: the same texts, budgets and
precision, the two runs of each pair at the same time with one thread each (so both see the
same machine, however busy), then `charrnn perplexity` on each one's last.pt, by its own tree,
on its validation part (never trained on): in 16 warmed segments, and exact (the state carried
across the whole part, at batch 1: slow) where the part is at most --exact-max-chars long.

    git worktree add /tmp/before d3acfcb
    python bench/before_after.py --before /tmp/before --after . \\
        --corpus corpora/tinyshakespeare.txt other.txt --minutes 2 10 [--precision fp32] \\
        --jsonl bench/before_after.jsonl [--extra "--hidden 256"]

A row per run: tree, corpus, minutes, precision, the network's width, the steps, the command's
wall seconds and their share of the budget, the last plan, validation nats/char.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from machine import describe_machine


def _env(tree: Path) -> dict[str, str]:
    # one thread each: the pair's two processes share the cores (perplexity takes all by default)
    return {**os.environ, "PYTHONPATH": str(tree.resolve()), "OMP_NUM_THREADS": "1"}


def _start(tree: Path, corpus: Path, minutes: float, precision: str, extra: list[str], root: Path) -> tuple:
    root.mkdir(parents=True)
    command = [sys.executable, "-m", "charrnn", "train", str(corpus.resolve()), "--checkpoint-dir", "ck"]
    command += ["--max-minutes", str(minutes), "--threads", "1", "--precision", precision, "--quiet", *extra]
    log = (root / "stderr.txt").open("w")
    # run from `root`: `python -m` puts the working directory before PYTHONPATH
    return subprocess.Popen(command, cwd=root, env=_env(tree), stderr=log), time.perf_counter(), log


def _row(
    tree_name: str,
    tree: Path,
    corpus: Path,
    minutes: float,
    precision: str,
    root: Path,
    wall: float,
    exact_max_chars: int,
) -> dict:
    last = root / "ck" / "last.pt"
    exact = None
    if exact_max_chars:
        measured = subprocess.run(
            [sys.executable, "-m", "charrnn", "perplexity", "--checkpoint", str(last), "--json",
             "--no-baselines"],
            check=True, capture_output=True, cwd=root, env=_env(tree),
        )  # fmt: skip
        exact = json.loads(measured.stdout)["texts"][0]["nats_per_char"]
    segmented = subprocess.run(
        [sys.executable, "-m", "charrnn", "perplexity", "--checkpoint", str(last), "--json",
         "--no-baselines", "--segments", "16"],
        check=True, capture_output=True, cwd=root, env=_env(tree),
    )  # fmt: skip
    text = json.loads(segmented.stdout)["texts"][0]
    in_segments = text["nats_per_char"]
    info = subprocess.run(
        [sys.executable, "-m", "charrnn", "info", str(last), "--json"],
        check=True, capture_output=True, cwd=root, env=_env(tree),
    )  # fmt: skip
    document = json.loads(info.stdout)
    records = [json.loads(line) for line in (root / "ck" / "metrics.jsonl").read_text().splitlines() if line]
    plans = [(r["step"], r["total_steps"]) for r in records if r["event"] == "plan"]
    training = document["training"]
    return {
        "tree": tree_name,
        "corpus": corpus.name,
        "minutes": minutes,
        "precision": training["precision"],
        "width": document["model"]["hidden_size"],
        "sizing": (training.get("sizing") or {}).get("width"),
        "steps": training["step"],
        "plans": plans,
        "wall_seconds": round(wall, 1),
        "budget_used": round(wall / (minutes * 60), 3),
        "val_nats_per_char": exact,  # exact: the state carried across the whole part (None: not run)
        "val_16_segments": in_segments,  # as a run's last validation reads it where exact costs too much
        "val_chars": text["chars_scored"],
        "plan_lines": [line for line in (root / "stderr.txt").read_text().splitlines() if "plan" in line][:3],
    }


def _val_chars(corpus: Path) -> int:
    """About the validation part's characters (the default --val-frac of the text)."""
    return int(len(corpus.read_text(encoding="utf-8")) * 0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, nargs="+", required=True)
    parser.add_argument("--minutes", type=float, nargs="+", required=True)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--extra", default="", help="options for both trees' runs")
    parser.add_argument("--jsonl", type=Path, required=True, help="rows are appended as they come")
    parser.add_argument(
        "--exact-max-chars", type=int, default=200_000,
        help="the exact perplexity only on validation parts up to this long (batch 1 is slow)",
    )  # fmt: skip
    args = parser.parse_args()
    machine = describe_machine()
    extra = shlex.split(args.extra)
    for minutes in args.minutes:
        for corpus in args.corpus:
            with tempfile.TemporaryDirectory() as tmp:
                trees = {"before": args.before, "after": args.after}
                started = {
                    name: _start(tree, corpus, minutes, args.precision, extra, Path(tmp) / name)
                    for name, tree in trees.items()
                }
                walls: dict[str, float] = {}
                while len(walls) < len(started):  # each one's wall clock ends when it does
                    for name, (process, start, log) in started.items():
                        if name not in walls and process.poll() is not None:
                            walls[name] = time.perf_counter() - start
                            log.close()
                            if process.returncode != 0:
                                tail = (Path(tmp) / name / "stderr.txt").read_text()[-2000:]
                                raise SystemExit(f"{name} failed: {tail}")
                    time.sleep(0.2)
                with ThreadPoolExecutor(len(trees)) as pool:  # both measured at once, as they trained
                    futures = [
                        pool.submit(
                            _row, name, tree, corpus, minutes, args.precision, Path(tmp) / name, walls[name],
                            args.exact_max_chars if _val_chars(corpus) <= args.exact_max_chars else 0,
                        )  # fmt: skip
                        for name, tree in trees.items()
                    ]
                    rows = [f.result() for f in futures]
            with args.jsonl.open("a") as f:
                for row in rows:
                    f.write(json.dumps({**row, "options": args.extra, "machine": machine}) + "\n")
            for r in rows:
                print(
                    f"{r['corpus']} {minutes:g} min {r['precision']} {r['tree']:>6}: 2x{r['width']} "
                    f"{r['steps']:,} steps, {r['budget_used']:.0%} of the budget, "
                    f"{r['val_nats_per_char'] or r['val_16_segments']:.4f} nats/char",
                    file=sys.stderr,
                    flush=True,
                )


if __name__ == "__main__":
    main()
