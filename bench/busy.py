"""Training speed beside busy neighbours: alone, beside 1 and 2 processes that spin on a core,
with 1 and 2 threads and each OpenMP wait policy, side by side in one run.

Each cell is a fresh process (OpenMP reads its settings when PyTorch loads) that trains the
default model with charrnn's own step on random batches for --seconds and reports chars/s; the
busy neighbours are `python -c "while True: pass"` processes started around it. The ratio is to
the same policy's 2-thread speed alone.

    python bench/busy.py [--seconds 8] [--policies default,passive] [--json bench/busy.json]

`--runs NAME=SOURCE,...` measures whole `charrnn train` runs instead (the code under SOURCE on
PYTHONPATH: this tree, or a worktree of an older commit), each --run-steps steps with a fixed
plan (`--max-steps N --max-minutes 0`) and no --threads, so charrnn chooses its threads itself;
its speed is the training chars/s from its metrics.jsonl (the first log and the last
validation left out), its ratio to the same source alone:

    git worktree add /tmp/base <commit>
    python bench/busy.py --runs before=/tmp/base,after=. --json bench/busy_runs.json

`--measure CHECKPOINT` times `charrnn perplexity` (its exact pass over the checkpoint's
validation text) and `charrnn visualize` the same way, at PyTorch's default threads (one per
core) and at one (OMP_NUM_THREADS=1), in seconds.

`--policies` names: default (charrnn's own: what `charrnn train` sets), unset (OpenMP's
defaults), passive (OMP_WAIT_POLICY=PASSIVE), active (OMP_WAIT_POLICY=ACTIVE), spinN
(GOMP_SPINCOUNT=N).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe_machine

NEIGHBOUR = [sys.executable, "-c", "while True: pass"]
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "CHARRNN_OMP_DEFAULTS")


def worker(seconds: float, threads: int, cell: str) -> float:
    """chars/s of the default model's training step over `seconds` (after 3 warm-up steps)."""
    from charrnn.cli.allocator import keep_freed_memory

    keep_freed_memory()
    import torch

    from charrnn.model.network import CharRNN
    from charrnn.train.config import TrainConfig
    from charrnn.train.step import train_step

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = TrainConfig(corpus="-", cell=cell)
    model = CharRNN(config.model_config(65)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    parameters = list(model.parameters())
    shape = (config.batch_size, config.seq_len)
    x, y = torch.randint(0, 65, shape), torch.randint(0, 65, shape)
    carried, steps = None, 0
    for i in range(10**9):
        if i == 3:
            started = time.perf_counter()
        result = train_step(
            model, parameters, optimizer, x, y, carried, lr=1e-3, grad_clip=1.0, precision="fp32"
        )
        carried = result.state
        if i >= 3:
            steps += 1
            if time.perf_counter() - started >= seconds:
                break
    return steps * x.numel() / (time.perf_counter() - started)


def environment(policy: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in WAIT_VARIABLES}
    if policy == "unset":
        env["CHARRNN_OMP_DEFAULTS"] = "0"  # charrnn leaves OpenMP's defaults alone
    elif policy in ("passive", "active"):
        env["OMP_WAIT_POLICY"] = policy.upper()
    elif policy.startswith("spin"):
        env["GOMP_SPINCOUNT"] = policy[4:]
    return env


def measure(policy: str, threads: int, neighbours: int, seconds: float, cell: str) -> float:
    busy = [subprocess.Popen(NEIGHBOUR) for _ in range(neighbours)]
    try:
        time.sleep(0.5 if busy else 0.0)
        command = [
            sys.executable,
            __file__,
            "--worker",
            str(threads),
            "--seconds",
            str(seconds),
            "--cell",
            cell,
        ]
        out = subprocess.run(command, env=environment(policy), check=True, capture_output=True, text=True)
        return float(out.stdout.strip().splitlines()[-1])
    finally:
        for process in busy:
            process.kill()
            process.wait()


def measure_run(source: str, neighbours: int, steps: int, corpus: str) -> float:
    """Training chars/s of a whole `charrnn train` run of `steps` steps beside `neighbours`."""
    busy = [subprocess.Popen(NEIGHBOUR) for _ in range(neighbours)]
    try:
        time.sleep(0.5 if busy else 0.0)
        with tempfile.TemporaryDirectory() as tmp:
            # run from `tmp`: `python -m` puts the working directory before PYTHONPATH
            command = [sys.executable, "-m", "charrnn", "train", str(Path(corpus).resolve())]
            command += ["--checkpoint-dir", tmp]
            command += ["--max-steps", str(steps), "--max-minutes", "0", "--eval-every", str(steps)]
            command += ["--log-every", "10", "--sample-chars", "0", "--quiet"]
            env = {**environment("default"), "PYTHONPATH": str(Path(source).resolve())}
            subprocess.run(command, env=env, check=True, capture_output=True, cwd=tmp)
            logs = [json.loads(line) for line in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
        logs = [r for r in logs if r["event"] == "train"]
        first, last = logs[0], logs[-1]
        one = sum(r.get("threads") == 1 for r in logs[1:]) / max(1, len(logs) - 1)
        print(
            f"  {source} beside {neighbours}: {last['step']} steps, one thread at {one:.0%} of logs",
            file=sys.stderr,
        )
        return (last["chars_seen"] - first["chars_seen"]) / (last["seconds"] - first["seconds"])
    finally:
        for process in busy:
            process.kill()
            process.wait()


def time_command(command: list[str], threads: int | None, neighbours: int) -> float:
    busy = [subprocess.Popen(NEIGHBOUR) for _ in range(neighbours)]
    try:
        time.sleep(0.5 if busy else 0.0)
        env = environment("default")
        if threads is not None:
            env["OMP_NUM_THREADS"] = str(threads)
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        return time.perf_counter() - started
    finally:
        for process in busy:
            process.kill()
            process.wait()


def compare_measures(args: argparse.Namespace, neighbours: list[int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "perplexity": ["charrnn", "perplexity", "--checkpoint", args.measure, "--no-baselines", "--json"],
            "visualize": [
                "charrnn",
                "visualize",
                "--checkpoint",
                args.measure,
                "--output",
                f"{tmp}/page.html",
            ],
        }
        header = "".join(f"{f'beside {n}':>22}" for n in neighbours)
        print(f"{describe_machine()}; seconds per command (ratio of speed to the default threads alone)")
        print(f"{'command':<12}{'threads':>8}{header}")
        rows = []
        for name, command in commands.items():
            alone = None
            for threads in (None, 1):
                seconds = [time_command([sys.executable, "-m", *command], threads, n) for n in neighbours]
                alone = alone or seconds[0]
                rows.append(
                    {
                        "command": name,
                        "threads": threads or "default",
                        "seconds": dict(zip(neighbours, seconds, strict=True)),
                    }
                )
                cells = "".join(f"{s:>14.1f} ({alone / s:.2f})" for s in seconds)
                print(f"{name:<12}{threads or 'default'!s:>8}{cells}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"cpu": describe_machine(), "measures": rows}, indent=2) + "\n")


def compare_runs(args: argparse.Namespace, neighbours: list[int]) -> None:
    sources = [item.split("=", 1) for item in args.runs.split(",")]
    header = "".join(f"{f'beside {n}':>22}" for n in neighbours)
    print(f"{describe_machine()}; `charrnn train` runs of {args.run_steps} steps, chars/s (ratio to alone)")
    print(f"{'run':<12}{header}")
    rows = []
    for name, source in sources:
        speeds = [measure_run(source, n, args.run_steps, args.corpus) for n in neighbours]
        rows.append(
            {"run": name, "source": source, "chars_per_sec": dict(zip(neighbours, speeds, strict=True))}
        )
        alone = speeds[0]
        print(f"{name:<12}" + "".join(f"{s:>14,.0f} ({s / alone:.2f})" for s in speeds), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"cpu": describe_machine(), "runs": rows}, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--policies", default="default,unset,passive")
    parser.add_argument("--cell", default="gru")
    parser.add_argument("--neighbours", default="0,1,2")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--runs", default=None, help="NAME=SOURCE,...: whole charrnn train runs")
    parser.add_argument("--run-steps", type=int, default=300)
    parser.add_argument("--corpus", default="corpora/tinyshakespeare.txt")
    parser.add_argument("--measure", default=None, help="CHECKPOINT: time perplexity and visualize")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(worker(args.seconds, args.worker, args.cell))
        return
    neighbours = [int(n) for n in args.neighbours.split(",")]
    if args.runs:
        compare_runs(args, neighbours)
        return
    if args.measure:
        compare_measures(args, neighbours)
        return
    cells = [(p, t) for p in args.policies.split(",") for t in (2, 1)]
    header = "".join(f"{f'beside {n}':>22}" for n in neighbours)
    print(
        f"{describe_machine()}; the default model ({args.cell}) training, chars/s (ratio to 2 threads alone)"
    )
    print(f"{'wait policy':<12}{'threads':>8}{header}")
    rows = []
    for policy, threads in cells:
        speeds = [measure(policy, threads, n, args.seconds, args.cell) for n in neighbours]
        rows.append(
            {
                "policy": policy,
                "threads": threads,
                "chars_per_sec": dict(zip(neighbours, speeds, strict=True)),
            }
        )
    for row in rows:
        alone = next(r for r in rows if r["policy"] == row["policy"] and r["threads"] == 2)["chars_per_sec"][
            0
        ]
        cells_text = "".join(f"{s:>14,.0f} ({s / alone:.2f})" for s in row["chars_per_sec"].values())
        print(f"{row['policy']:<12}{row['threads']:>8}{cells_text}")
    if args.json:
        args.json.write_text(json.dumps({"cpu": describe_machine(), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
