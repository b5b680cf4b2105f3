"""Big corpora in small memory: encoding speed, peak memory of training, and a cached restart.

Generates a corpus of `--mb` megabytes (lines of Tiny Shakespeare drawn at random, seeded), then,
each in its own process (peak RSS from wait4) and with the corpus cache in a fresh directory:

1. encode: `load_corpus` on the new file (scan + encode into the cache), MB/s;
2. train, first run: `charrnn train` (2×256 LSTM) for a few steps and an evaluation, the cache
   still empty (so it encodes too);
3. reload: `load_corpus` again, now a cache hit;
4. train, second run: the same command into a new directory.

    python bench/memory.py [--mb 100] [--steps 20] [--files N] [--json bench/memory.json]

--files N: the same corpus as a folder of N files (cut at line ends, in nested folders of 100),
read as a folder corpus: each file on its own, each file's tail validating.

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

VAL_FRAC = "0.01"  # validation: 1% (of each file, for a folder)
LOAD = """
import sys, time
from pathlib import Path
from charrnn.data.corpus import load_corpus
start = time.perf_counter()
corpus = load_corpus(Path(sys.argv[1]), val_frac=float(sys.argv[2]))  # the training run's split
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


def split_into_folder(corpus: Path, folder: Path, files: int) -> None:
    """`corpus` cut at line ends into `files` files of about equal size under `folder`, read a
    line at a time: this process stays small, so the children it measures start small (a child's
    peak RSS on Linux counts what it was forked from)."""
    per_file = corpus.stat().st_size / files
    written, index, out = 0, -1, None
    with corpus.open(encoding="utf-8") as lines:
        for line in lines:
            if out is None or (written >= per_file * (index + 1) and index < files - 1):
                if out is not None:
                    out.close()
                index += 1
                path = folder / f"{index // 100:04}" / f"{index % 100:02}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                out = path.open("w", encoding="utf-8")
            out.write(line)
            written += len(line.encode("utf-8"))
    if out is not None:
        out.close()
    corpus.unlink()


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
    parser.add_argument("--files", type=int, default=0, help="a folder of this many files instead of one")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        corpus = tmp / "big.txt"
        size = make_corpus(corpus, args.mb, args.source)
        if args.files:
            split_into_folder(corpus, tmp / "big", args.files)
            corpus = tmp / "big"
        env = {**os.environ, "CHARRNN_CACHE_DIR": str(tmp / "cache")}
        encode_env = {**os.environ, "CHARRNN_CACHE_DIR": str(tmp / "cache-for-encode-timing")}
        load = [sys.executable, "-c", LOAD, str(corpus), VAL_FRAC]
        train = [sys.executable, "-m", "charrnn", "train", str(corpus), "--hidden", "256", "--embed", "64"]
        train += ["--max-steps", str(args.steps), "--eval-every", str(args.steps), "--log-every", "1"]
        train += ["--val-frac", VAL_FRAC, "--val-segments", "64", "--sample-chars", "0", "--quiet"]
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

    shape = f"as a folder of {args.files:,} files" if args.files else "as one file"
    print(f"corpus: {size / 1e6:.0f} MB generated, {shape}; cache entry {cache_mb:.0f} MB")
    print(f"{'stage':<22} {'wall s':>7} {'peak RSS MB':>12}  notes")
    for label, wall, rss, notes in rows:
        print(f"{label:<22} {wall:>7.2f} {rss:>12.0f}  {notes}")
    if args.json:
        keys = ("stage", "wall_seconds", "peak_rss_mb", "notes")
        table = [dict(zip(keys, r, strict=True)) for r in rows]
        payload = {"corpus_mb": size / 1e6, "files": args.files or 1, "rows": table}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
