"""How long a signalled training takes to save and exit: during a training step, and during a
validation pass. `charrnn train` with its defaults on the shipped corpus, in a subprocess.

    python bench/stop_latency.py [--corpus corpora/tinyshakespeare.txt] [--json out.json]

Each row: start a fresh run, wait until step 5 is logged (validation follows step 5 in the
"validation" rows, not until step 1000 in the "training" rows), wait `--delay` seconds, send
the signal, time until the process has exited. Then check what was saved.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

WHEN = {"training step": "1000", "validation": "5"}  # --eval-every for each moment


def _measure(corpus: str, moment: str, sig: signal.Signals, delay: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        ck = Path(tmp) / "ck"
        cmd = [sys.executable, "-m", "charrnn", "train", corpus, "--checkpoint-dir", str(ck)]
        cmd += ["--eval-every", WHEN[moment], "--log-every", "1", "--quiet"]
        proc = subprocess.Popen(cmd)
        metrics = ck / "metrics.jsonl"
        while not (metrics.exists() and metrics.read_text().count("\n") >= 5):
            if proc.poll() is not None:
                raise SystemExit(f"training ended early with {proc.returncode}")
            time.sleep(0.02)
        time.sleep(delay)
        sent = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(timeout=120)
        seconds = time.monotonic() - sent
        saved = torch.load(ck / "last.pt", weights_only=True)
        return {
            "moment": moment,
            "signal": sig.name,
            "exit_code": code,
            "seconds_to_exit": round(seconds, 2),
            "saved_step": int(saved["progress"]["step"]),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="corpora/tinyshakespeare.txt")
    parser.add_argument("--delay", type=float, default=2.0, help="seconds after step 5 to signal")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = [
        _measure(args.corpus, moment, sig, args.delay)
        for moment in WHEN
        for sig in (signal.SIGINT, signal.SIGTERM)
    ]
    print(f"{'moment':<15} {'signal':<8} {'exit':>4} {'s to exit':>9} {'saved step':>10}")
    for r in rows:
        print(
            f"{r['moment']:<15} {r['signal']:<8} {r['exit_code']:>4} {r['seconds_to_exit']:>9.2f} "
            f"{r['saved_step']:>10}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
