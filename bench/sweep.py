"""The defaults' sweep: each configuration's exact validation loss after the training a time
budget buys it on this machine.

A budget-sized run is not repeatable (its plan follows the measured speed), and two of them
cannot share the machine without slowing each other. So the sweep splits the two: first each
configuration's training speed is measured alone, at --threads (default: one per core), on
random batches through charrnn's own training step; that speed times the training seconds the
budget leaves (--train-seconds) gives its step count; then every configuration trains for
exactly that many steps (`--max-steps N --max-minutes 0`, deterministic whatever else runs),
--jobs at a time with one thread each, and its last.pt is measured exactly by `charrnn
perplexity` (the whole held-out tenth, the state carried).

--speed-scale S asks what a machine S times as fast would reach (0.36: an AVX2-only EPYC that
trains the old default at 8.3k chars/s, against 22.9k on an AVX-512 EPYC). "NAME@SPEED: options"
takes SPEED chars/s as measured earlier instead of measuring it (for a sweep started while the
machine is busy: a speed measured then would be wrong, a step count is not).

    python bench/sweep.py --train-seconds 530 --json bench/sweep.json \
        "A: --hidden 384 --dropout 0" "B: --hidden 512 --dropout 0.2 --lr 4e-3" ...
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from machine import describe_machine

from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN
from charrnn.runtime import choose_precision
from charrnn.train.config import TrainConfig
from charrnn.train.step import train_step

BASE = ["--epochs", "1000", "--max-minutes", "0", "--sample-chars", "0", "--quiet", "--log-every", "100"]


def parse_options(words: list[str]) -> dict[str, str]:
    """`--hidden 512 --dropout 0.2` → {"hidden_size": "512", ...} (the TrainConfig field names)."""
    flags = {
        "--hidden": "hidden_size",
        "--layers": "num_layers",
        "--embed": "embed_size",
        "--batch-size": "batch_size",
        "--seq-len": "seq_len",
        "--cell": "cell",
        "--dropout": "dropout",
        "--precision": "precision",
        "--factors": "factors",
    }
    found = {}
    for flag, value in zip(words[::2], words[1::2], strict=False):
        if flag in flags:
            found[flags[flag]] = value
    return found


def chars_per_second(words: list[str], vocab_size: int, threads: int, steps: int = 8) -> tuple[float, int]:
    """Training speed of the configuration alone, and its characters per step."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    given = parse_options(words)
    defaults = TrainConfig(corpus="-")
    config = ModelConfig(
        vocab_size=vocab_size,
        cell=given.get("cell", defaults.cell),
        num_layers=int(given.get("num_layers", defaults.num_layers)),
        hidden_size=int(given.get("hidden_size", defaults.hidden_size)),
        embed_size=int(given.get("embed_size", defaults.embed_size)),
        factors=int(given.get("factors", defaults.factors)),
        dropout=float(given.get("dropout", defaults.dropout)),
    )
    batch = int(given.get("batch_size", defaults.batch_size))
    seq = int(given.get("seq_len", defaults.seq_len))
    precision = choose_precision(given.get("precision", defaults.precision), torch.device("cpu"))
    model = CharRNN(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    parameters = list(model.parameters())
    x, y = torch.randint(0, vocab_size, (batch, seq)), torch.randint(0, vocab_size, (batch, seq))
    carried = None
    for i in range(steps + 2):
        if i == 2:  # the first steps allocate
            started = time.perf_counter()
        result = train_step(
            model, parameters, optimizer, x, y, carried, lr=1e-3, grad_clip=1.0, precision=precision
        )
        carried = result.state
    float(result.loss)
    return batch * seq * steps / (time.perf_counter() - started), batch * seq


def train_and_measure(corpus: str, words: list[str], steps: int, root: Path) -> dict:
    ck = root / "ck"
    command = ["charrnn", "train", corpus, "--checkpoint-dir", str(ck), *BASE]
    command += ["--max-steps", str(steps), "--eval-every", str(steps), "--threads", "1", *words]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - started
    measure = ["charrnn", "perplexity", "--checkpoint", str(ck / "last.pt"), "--json", "--no-baselines"]
    row = json.loads(subprocess.run(measure, check=True, capture_output=True).stdout)["texts"][0]
    return {"val_nats_per_char": row["nats_per_char"], "run_seconds_1_thread": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", help='"NAME: charrnn train options"')
    parser.add_argument("--corpus", default="corpora/tinyshakespeare.txt")
    parser.add_argument("--train-seconds", type=float, default=530.0)
    parser.add_argument("--speed-scale", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    vocab_size = len(set(Path(args.corpus).read_text(encoding="utf-8")))
    named = [(c.split(":", 1)[0].strip(), shlex.split(c.split(":", 1)[1])) for c in args.configs]
    rows = []
    for i, (label, words) in enumerate(named):  # alone, one after another: the speeds are not disturbed
        name, _, given = label.partition("@")
        named[i] = (name, words)
        speed, chars = chars_per_second(words, vocab_size, args.threads, steps=1 if given else 8)
        speed = float(given) if given else speed
        steps = int(args.train_seconds * speed * args.speed_scale / chars)
        rows.append(
            {"name": name, "options": shlex.join(words), "chars_per_sec": round(speed), "steps": steps}
        )
        print(f"{name}: {speed:,.0f} chars/s → {steps:,} steps", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        futures = [
            pool.submit(train_and_measure, args.corpus, words, row["steps"], Path(tmp) / row["name"])
            for row, (_, words) in zip(rows, named, strict=True)
        ]
        for row, future in zip(rows, futures, strict=True):
            row.update(future.result())
            print(f"{row['name']}: val {row['val_nats_per_char']:.4f}", file=sys.stderr, flush=True)
    print(
        f"{describe_machine()}; speed at {args.threads} threads; "
        f"{args.train_seconds:g} s of training × {args.speed_scale:g}"
    )
    print(f"{'config':8} {'chars/s':>8} {'steps':>7} {'val nats/char':>14}  options")
    for row in sorted(rows, key=lambda r: r["val_nats_per_char"]):
        print(
            f"{row['name']:8} {row['chars_per_sec']:8,} {row['steps']:7,} "
            f"{row['val_nats_per_char']:14.4f}  {row['options']}"
        )
    if args.json:
        result = {
            "cpu": describe_machine(),
            "train_seconds": args.train_seconds,
            "speed_scale": args.speed_scale,
            "rows": rows,
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
