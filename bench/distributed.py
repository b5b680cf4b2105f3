"""Data-parallel scaling on this machine: `charrnn train` in 1 process and in 2 (torchrun, gloo).

Each configuration trains the default model on Tiny Shakespeare for `--steps` steps (global
batch 32 × 100, no evaluation until the end) and reports the mean chars/s of its log intervals
after the first. Scaling efficiency = 2-process chars/s ÷ (2 × 1-process-1-thread chars/s).

    python bench/distributed.py [--steps 40] [--json bench/distributed.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CONFIGS = {
    "1 process, 2 threads": ([], "2"),
    "1 process, 1 thread": ([], "1"),
    "2 processes, 1 thread each": (
        ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
        "1",
    ),
}


def chars_per_sec(launcher: list[str], threads: str, steps: int, corpus: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, *launcher, "-m", "charrnn", "train", corpus, "--checkpoint-dir", tmp]
        cmd += ["--max-steps", str(steps), "--log-every", "5", "--eval-every", str(10 * steps)]
        cmd += ["--val-segments", "16", "--sample-chars", "0", "--threads", threads, "--quiet"]
        subprocess.run(cmd, check=True, capture_output=True)
        records = [json.loads(line) for line in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
    speeds = [r["chars_per_sec"] for r in records if r["event"] == "train"][1:]  # first: warm-up
    return sum(speeds) / len(speeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--corpus", default="corpora/tinyshakespeare.txt")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results = {
        name: chars_per_sec(launch, threads, args.steps, args.corpus)
        for name, (launch, threads) in CONFIGS.items()
    }
    efficiency = results["2 processes, 1 thread each"] / (2 * results["1 process, 1 thread"])
    for name, value in results.items():
        print(f"{name:<28} {value:>9,.0f} chars/s")
    print(f"scaling efficiency (2 processes vs 2 × 1 process at 1 thread): {efficiency:.0%}")
    if args.json:
        args.json.write_text(
            json.dumps({"chars_per_sec": results, "efficiency": efficiency}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
