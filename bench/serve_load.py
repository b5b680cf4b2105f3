"""Load test of `charrnn serve`: a bounded number of sample requests from concurrent clients, and
the same requests from a single client, against one server process on loopback, in one run.

Each request asks for `--length` characters (`POST /api/sample`, its own seed) and reads the
streamed answer to the end. Reported per phase: requests answered whole, refused (by status)
and lost (no answer: an error or a timeout), the latency to the first piece and to the end (p50,
p95, max), and characters per second, summed over the phase's wall time. The server runs with
its defaults (4 computations at once, 32 waiting, 1 thread each) unless `--max-concurrent`,
`--max-waiting` or `--threads` say otherwise; it is stopped with SIGINT at the end and must exit
with 0.

    python bench/serve_load.py --checkpoint checkpoints/best.pt [--requests 200] [--clients 16]
        [--single 25] [--length 200] [--max-seconds 600] [--json bench/serve_load.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from machine import cpu_model

REQUEST_SECONDS = 120  # one request's limit: a stalled one counts as lost, it does not hang the run


@dataclass
class Outcome:
    status: int | None  # None: lost (no answer)
    chars: int = 0
    first_piece: float | None = None  # seconds from sending to the first piece of text
    seconds: float = 0.0  # from sending to the end of the answer
    error: str = ""


@dataclass
class Phase:
    name: str
    clients: int
    outcomes: list[Outcome] = field(default_factory=list)
    wall: float = 0.0
    not_sent: int = 0

    def summary(self, length: int) -> dict[str, Any]:
        whole = [o for o in self.outcomes if o.status == 200 and o.chars == length]
        refused: dict[str, int] = {}
        for o in self.outcomes:
            if o.status is not None and o not in whole:
                refused[str(o.status)] = refused.get(str(o.status), 0) + 1
        latencies = sorted(o.seconds for o in whole)
        firsts = sorted(o.first_piece for o in whole if o.first_piece is not None)
        return {
            "phase": self.name,
            "clients": self.clients,
            "requests": len(self.outcomes) + self.not_sent,
            "answered_whole": len(whole),
            "refused_or_short": refused,
            "lost": sum(o.status is None for o in self.outcomes),
            "not_sent": self.not_sent,
            "wall_seconds": round(self.wall, 3),
            "latency_p50_s": _quantile(latencies, 0.5),
            "latency_p95_s": _quantile(latencies, 0.95),
            "latency_max_s": round(latencies[-1], 3) if latencies else None,
            "first_piece_p50_s": _quantile(firsts, 0.5),
            "first_piece_p95_s": _quantile(firsts, 0.95),
            "chars_per_sec": round(sum(o.chars for o in whole) / self.wall) if self.wall else 0,
            "errors": sorted({o.error for o in self.outcomes if o.error})[:5],
        }


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1], 3)


def start_server(checkpoint: str, options: list[str]) -> tuple[subprocess.Popen[str], int]:
    command = [sys.executable, "-m", "charrnn", "serve", "--checkpoint", checkpoint, "--port", "0", *options]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    for line in process.stderr:  # the line that says where it listens comes once it does
        if found := re.search(r"serving .* at http://127\.0\.0\.1:(\d+)/", line):
            threading.Thread(target=process.stderr.read, daemon=True).start()  # keep the pipe drained
            return process, int(found.group(1))
    raise SystemExit(f"the server did not start (exit code {process.wait()})")


def one_request(port: int, length: int, seed: int) -> Outcome:
    body = json.dumps({"length": length, "temperature": 0.8, "seed": seed})
    start = time.perf_counter()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_SECONDS)
        connection.request("POST", "/api/sample", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        if response.status != 200:
            response.read()
            connection.close()
            return Outcome(response.status, seconds=time.perf_counter() - start)
        pieces, first = [], None
        while piece := response.read1(65536):
            first = first if first is not None else time.perf_counter() - start
            pieces.append(piece)
        connection.close()
        chars = len(b"".join(pieces).decode("utf-8"))
        return Outcome(200, chars, first, time.perf_counter() - start)
    except (OSError, http.client.HTTPException) as e:
        return Outcome(None, seconds=time.perf_counter() - start, error=f"{type(e).__name__}: {e}")


def run_phase(name: str, port: int, requests: int, clients: int, length: int, deadline: float) -> Phase:
    phase = Phase(name, clients)
    lock = threading.Lock()
    issued = iter(range(requests))

    def client() -> None:
        while time.monotonic() < deadline:
            with lock:
                seed = next(issued, None)
            if seed is None:
                return
            outcome = one_request(port, length, seed)
            with lock:
                phase.outcomes.append(outcome)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for _ in range(clients):
            pool.submit(client)
    phase.wall = time.perf_counter() - start
    phase.not_sent = requests - len(phase.outcomes)
    return phase


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="checkpoints/best.pt")
    parser.add_argument("--requests", type=int, default=200, help="requests of the concurrent phase")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--single", type=int, default=25, help="requests of the single-client phase")
    parser.add_argument("--length", type=int, default=200, help="characters each request asks for")
    parser.add_argument("--max-concurrent", type=int, help="the server's --max-concurrent (its default: 4)")
    parser.add_argument("--max-waiting", type=int, help="the server's --max-waiting (its default: 32)")
    parser.add_argument("--threads", type=int, help="the server's --threads (its default: 1)")
    parser.add_argument("--max-seconds", type=float, default=600, help="the whole run's limit")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    options = []
    for flag in ("max_concurrent", "max_waiting", "threads"):
        if getattr(args, flag) is not None:
            options += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    deadline = time.monotonic() + args.max_seconds
    process, port = start_server(args.checkpoint, options)
    try:
        for seed in range(3):  # warm-up: first requests pay for lazy imports and allocations
            one_request(port, args.length, 10_000 + seed)
        single = run_phase("single client", port, args.single, 1, args.length, deadline)
        concurrent = run_phase(
            f"{args.clients} clients", port, args.requests, args.clients, args.length, deadline
        )
    finally:
        process.send_signal(signal.SIGINT)
        exit_code = process.wait(30)

    rows = [single.summary(args.length), concurrent.summary(args.length)]
    machine = f"{cpu_model()}, {os.cpu_count()} CPUs"
    print(
        f"{machine}; {args.checkpoint}; {args.length} characters a request; "
        f"server options {' '.join(options) or 'default'}; server exit code {exit_code}"
    )
    print(
        "| phase | requests | answered whole | refused | lost | p50 s | p95 s | max s | first piece p50 s |",
        end="",
    )
    print(" chars/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        refused = sum(r["refused_or_short"].values())
        print(
            f"| {r['phase']} | {r['requests']} | {r['answered_whole']} | {refused} | {r['lost']} | "
            f"{r['latency_p50_s']} | {r['latency_p95_s']} | {r['latency_max_s']} | "
            f"{r['first_piece_p50_s']} | {r['chars_per_sec']:,} |"
        )
    for r in rows:
        if r["errors"] or r["not_sent"]:
            print(f"{r['phase']}: {r['not_sent']} not sent (time limit); errors: {r['errors']}")
    if args.json:
        document = {"machine": machine, "args": {k: str(v) for k, v in vars(args).items()}, "phases": rows}
        document["server_exit_code"] = exit_code
        args.json.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
