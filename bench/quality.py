"""What `charrnn train` learns in its time budget, for the defaults and alternatives side by side:
validation loss against wall clock, each run alone on the machine, one after another, in one run
of this script.

    python bench/quality.py [--minutes 9.5] [--json bench/quality.json] ["NAME: train options" ...]

Each configuration trains on Tiny Shakespeare with the given budget (the default command's own
budget unless --minutes says otherwise). Its validations (the whole held-out tenth: in 16 warmed
segments, within ~1e-4 of exact, and exact the last) are read from metrics.jsonl and shown at
each minute of training; the last row is `charrnn perplexity` on the final checkpoint (exact).
With no configurations named, the default and the alternatives below are run. For scale, on the
same split: nanoGPT's character-level Shakespeare reaches 1.4697 nats/char on an A100 GPU, its
CPU configuration 1.88.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe_machine

from charrnn.model.checkpoint import Checkpoint

# The default (on this machine's precision), the default in fp32, and the defaults before issue
# 17 (bench/sweep.md): an LSTM for 5 epochs or the budget, no dropout, no weight decay.
ALTERNATIVES = [
    "default:",
    "default fp32: --precision fp32",
    "old default fp32: --precision fp32 --cell lstm --epochs 5 --dropout 0 --weight-decay 0",
]


def run(corpus: str, words: list[str], minutes: float | None, root: Path) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    ck = root / "ck"
    # run from `root`: `python -m` puts the working directory before PYTHONPATH (another tree)
    command = [sys.executable, "-m", "charrnn", "train", str(Path(corpus).resolve())]
    command += ["--checkpoint-dir", str(ck.resolve()), "--quiet"]
    command += ["--max-minutes", str(minutes)] if minutes is not None else []
    started = time.perf_counter()
    subprocess.run([*command, *words], check=True, cwd=root)
    wall = time.perf_counter() - started
    records = [json.loads(line) for line in (ck / "metrics.jsonl").read_text().splitlines() if line]
    measure = [sys.executable, "-m", "charrnn", "perplexity", "--checkpoint", str((ck / "last.pt").resolve())]
    measured = subprocess.run(
        [*measure, "--json", "--no-baselines"], check=True, capture_output=True, cwd=root
    )
    row = json.loads(measured.stdout)["texts"][0]
    (plan,) = [r for r in records if r["event"] == "plan"][-1:]
    final = [r for r in records if r["event"] == "val"][-1]  # a run ends with a validation
    return {
        "options": shlex.join(words),
        "command_seconds": round(wall, 1),
        "precision": Checkpoint.load(ck / "last.pt").training.precision,  # type: ignore[union-attr]
        "plan_steps": plan["total_steps"],
        "plans": [(r["step"], r["total_steps"]) for r in records if r["event"] == "plan"],  # (at, steps)
        "run_seconds_at_last_validation": final["seconds"],
        "chars_per_sec_measured": round(plan["chars_per_sec"] or 0),
        "steps": final["step"],
        "epochs": round(final["epoch"], 2),
        "validations": [(r["seconds"], r["val_loss"]) for r in records if r["event"] == "val"],
        "val_nats_per_char": row["nats_per_char"],
        "val_bits_per_char": row["bits_per_char"],
        "val_chars": row["chars_scored"],
    }


def latest_before(validations: list[tuple[float, float]], seconds: float) -> str:
    seen = [loss for at, loss in validations if at <= seconds]
    return f"{seen[-1]:.4f}" if seen else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", help='"NAME: charrnn train options" (default: see the file)')
    parser.add_argument("--minutes", type=float, default=None, help="budget (default: train's own)")
    parser.add_argument("--corpus", default="corpora/tinyshakespeare.txt")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="keep each run directory in KEEP/NAME")
    args = parser.parse_args()
    named = [
        (c.split(":", 1)[0].strip(), shlex.split(c.split(":", 1)[1])) for c in args.configs or ALTERNATIVES
    ]
    results = {}
    for name, words in named:
        with tempfile.TemporaryDirectory() as tmp:
            root = args.keep / name.replace(" ", "-") if args.keep else Path(tmp)
            results[name] = run(args.corpus, words, args.minutes, root)
        print(f"{name}: {results[name]['val_nats_per_char']:.4f} nats/char", file=sys.stderr, flush=True)
    width = max(14, *(len(n) for n in results))
    print(f"{describe_machine()}; validation nats/char after each minute of training (the last exact)")
    print("minute".ljust(20) + "".join(n.rjust(width + 2) for n in results))
    longest = max(v[0] for r in results.values() for v in r["validations"])
    for minute in range(1, int(longest // 60) + 2):
        cells = (latest_before(r["validations"], minute * 60.0) for r in results.values())
        print(f"{minute:<20}" + "".join(c.rjust(width + 2) for c in cells))
    rows = [
        ("final (perplexity)", lambda r: f"{r['val_nats_per_char']:.4f}"),
        ("bits/char", lambda r: f"{r['val_bits_per_char']:.4f}"),
        ("steps", lambda r: f"{r['steps']:,}"),
        ("epochs", lambda r: f"{r['epochs']:.2f}"),
        ("chars/s", lambda r: f"{r['chars_per_sec_measured']:,}"),
        ("precision", lambda r: r["precision"]),
        ("command s", lambda r: f"{r['command_seconds']:.0f}"),
    ]
    for label, cell in rows:
        print(label.ljust(20) + "".join(cell(r).rjust(width + 2) for r in results.values()))
    if args.json:
        payload = {"cpu": describe_machine(), "minutes": args.minutes, "results": results}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
