"""Big corpora in small memory: encoding speed, peak memory of training, and a cached restart.

Generates a corpus of `--mb` megabytes (lines of Tiny Shakespeare drawn at random, seeded), then,
each in its own process (peak RSS from wait4) and with the corpus cache in a fresh directory:

1. encode: `load_corpus` on the new file (scan + encode into the cache), MB/s;
2. train, first run: `charrnn train` (2×256 LSTM) for a few steps and an evaluation, the cache
   still empty (so it encodes too);
3. reload: `load_corpus` again, now a cache hit;
4. train, second run: the same command into a new directory.

    python bench/memory.py [--mb 100] [--steps 20] [--json bench/memory.json]

Targets (issue 6): encoding ≥ 50 MB/s; peak RSS ≤ 1 GB for the 2×256 model; the second run
ready to train in under 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOAD = """
import sys, time
from pathlib import Path
from charrnn.data.corpus import load_corpus
start = time.perf_counter()
corpus = load_corpus(Path(sys.argv[1]))
print(f"{time.perf_counter() - start:.3f} {len(corpus.ids)} {type(corpus.ids).__name__}")
"""


def make_corpus(path: Path, megabytes: float, source: Path, seed: int = 0) -> int:
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    rng = random.Random(seed)
    target = int(megabytes * 1e6)
    with path.open("w", encoding="utf-8") as f:
        written = 0
        while written < target:
            block = "".join(rng.choices(lines, k=10_000))
            f.write(block)
            written += len(block.encode("utf-8"))
    return path.stat().st_size


def run(cmd: list[str], env: dict[str, str], watch: Path | None = None) -> tuple[float, float, str, float]:
    """(wall seconds, peak RSS in MB, stdout, seconds until `watch` first had a line) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL if watch else subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    first_line = float("nan")
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if (
            watch is not None
            and first_line != first_line
            and watch.exists()
            and watch.read_text().count("\n")
        ):
            first_line = time.perf_counter() - start
        time.sleep(0.005)
    seconds = time.perf_counter() - start
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    return seconds, usage.ru_maxrss / 1024, out, first_line  # ru_maxrss is in KB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--source", type=Path, default=Path("corpora/tinyshakespeare.txt"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        corpus = tmp / "big.txt"
        size = make_corpus(corpus, args.mb, args.source)
        env = {**os.environ, "CHARRNN_CACHE_DIR": str(tmp / "cache")}
        encode_env = {**os.environ, "CHARRNN_CACHE_DIR": str(tmp / "cache-for-encode-timing")}
        load = [sys.executable, "-c", LOAD, str(corpus)]
        train = [sys.executable, "-m", "charrnn", "train", str(corpus), "--hidden", "256", "--embed", "64"]
        train += ["--max-steps", str(args.steps), "--eval-every", str(args.steps), "--log-every", "1"]
        train += ["--val-frac", "0.01", "--val-streams", "64", "--sample-chars", "0", "--quiet"]
        rows = []

        wall, rss, out, _ = run(load, encode_env)
        encode_s = float(out.split()[0])
        speed = f"{size / 1e6 / encode_s:.0f} MB/s ({encode_s:.2f} s)"
        rows.append(("encode (cache miss)", wall, rss, speed))
        for label, ck in (("train, first run", "ck1"), ("train, second run", "ck2")):
            metrics = tmp / ck / "metrics.jsonl"
            wall, rss, _, first = run([*train, "--checkpoint-dir", str(tmp / ck)], env, watch=metrics)
            notes = f"step 1 done {first:.2f} s after launch; {args.steps} steps + validation of 1%"
            rows.append((label, wall, rss, notes))
            if label == "train, first run":
                wall, rss, out, _ = run(load, env)
                seconds, _, kind = out.split()
                rows.append(("reload (cache hit)", wall, rss, f"load_corpus {float(seconds):.2f} s, {kind}"))
        cache_mb = sum(p.stat().st_size for p in (tmp / "cache").glob("*.npy")) / 1e6

    print(f"corpus: {size / 1e6:.0f} MB generated; cache entry {cache_mb:.0f} MB")
    print(f"{'stage':<22} {'wall s':>7} {'peak RSS MB':>12}  notes")
    for label, wall, rss, notes in rows:
        print(f"{label:<22} {wall:>7.2f} {rss:>12.0f}  {notes}")
    if args.json:
        keys = ("stage", "wall_seconds", "peak_rss_mb", "notes")
        payload = {"corpus_mb": size / 1e6, "rows": [dict(zip(keys, r, strict=True)) for r in rows]}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
