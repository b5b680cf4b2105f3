"""What the default `charrnn train` learns in M minutes on Tiny Shakespeare: exact validation
nats and bits per character, measured afterwards by `charrnn perplexity` on the checkpoint.

    python bench/quality.py --minutes 10 [--json bench/quality.json] [-- extra train options]

Target (issue 6) at 10 minutes: ≤ 1.50 nats/char (2.16 bits/char); stretch ≤ 1.45. For scale:
nanoGPT's CPU configuration reaches 1.886 nats/char in 114 s on the same split; its GPU
configuration 1.4697 in 3 minutes on an A100.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--corpus", default="corpora/tinyshakespeare.txt")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("extra", nargs="*", help="more `charrnn train` options (after --)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ck = Path(tmp) / "ck"
        train = [sys.executable, "-m", "charrnn", "train", args.corpus, "--checkpoint-dir", str(ck)]
        train += ["--max-minutes", str(args.minutes), "--quiet", *args.extra]
        start = time.perf_counter()
        subprocess.run(train, check=True)
        wall = time.perf_counter() - start
        measure = [sys.executable, "-m", "charrnn", "perplexity", "--checkpoint", str(ck / "last.pt")]
        measured = subprocess.run([*measure, "--json", "--no-baselines"], check=True, capture_output=True)
        row = json.loads(measured.stdout)["texts"][0]
        last = json.loads((ck / "metrics.jsonl").read_text().splitlines()[-1])
    result = {
        "minutes_allowed": args.minutes,
        "train_command_seconds": round(wall, 1),
        "steps": last["step"],
        "epochs": round(last["epoch"], 2),
        "val_chars": row["chars_scored"],
        "val_nats_per_char": row["nats_per_char"],
        "val_bits_per_char": row["bits_per_char"],
        "extra_options": args.extra,
    }
    figures = f"{row['nats_per_char']:.4f} nats/char = {row['bits_per_char']:.4f} bits/char"
    print(
        f"{args.minutes:g} min allowed: stopped at step {result['steps']} (epoch {result['epochs']}) after "
        f"{wall:.0f} s; validation {figures} over {row['chars_scored']:,} characters (exact, state carried)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
