"""Two knobs charrnn could turn, measured side by side: intra-op threads, and torch.compile.

The training step of a CharRNN (forward, summed loss, backward, clipping, AdamW), batch 32 × 100:
eager with 1 thread and with one per physical core; then eager vs `torch.compile` (inductor) at
the default thread count, counting compile time separately.

    python bench/compile_threads.py [--cell lstm] [--hidden 256] [--steps 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN
from charrnn.runtime import physical_cores

VOCAB, BATCH, SEQ = 65, 32, 100


def make_step(model: torch.nn.Module):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randint(0, VOCAB, (BATCH, SEQ)), torch.randint(0, VOCAB, (BATCH, SEQ))

    def step() -> None:
        logits, _ = model(x)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum") / y.numel()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return step


def chars_per_sec(step, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return BATCH * SEQ * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=VOCAB, cell=args.cell, hidden_size=args.hidden))
    eager = make_step(model)
    eager()
    results: dict[str, float] = {}
    cores = physical_cores()
    for _ in range(args.rounds):  # alternate, keep the best: the machine drifts
        for threads in sorted({1, cores}):
            torch.set_num_threads(threads)
            key = f"eager, {threads} thread(s)"
            results[key] = max(results.get(key, 0.0), chars_per_sec(eager, args.steps))
    torch.set_num_threads(cores)
    compiled_model = torch.compile(model)
    compiled = make_step(compiled_model)
    start = time.perf_counter()
    compiled()
    compiled()
    results["compile time, s"] = time.perf_counter() - start
    for _ in range(args.rounds):
        results[f"eager, {cores} thread(s)"] = max(
            results[f"eager, {cores} thread(s)"], chars_per_sec(eager, args.steps)
        )
        results["torch.compile"] = max(results.get("torch.compile", 0.0), chars_per_sec(compiled, args.steps))
    for key, value in results.items():
        print(f"{key:<24} {value:>10,.1f}" if "time" in key else f"{key:<24} {value:>10,.0f} chars/s")
    if args.json:
        args.json.write_text(
            json.dumps({"cell": args.cell, "hidden": args.hidden, **results}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
