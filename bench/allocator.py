"""glibc allocator settings (charrnn/allocator.py) on vs off: a 2x384 LSTM training loop, side by side.

Each variant runs in its own process (the settings must precede the torch import), alternating,
and reports chars/s and minor page faults over the timed steps.

    python bench/allocator.py [--rounds 2] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
if sys.argv[1] == "on":
    from charrnn.cli.allocator import keep_freed_memory
    keep_freed_memory()
import torch
import torch.nn.functional as F
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN
from charrnn.runtime import configure_threads
configure_threads()
torch.manual_seed(0)
model = CharRNN(ModelConfig(vocab_size=65, hidden_size=384))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
x, y = torch.randint(0, 65, (32, 100)), torch.randint(0, 65, (32, 100))
def step():
    logits, _ = model(x)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    opt.zero_grad(); loss.backward(); opt.step()
for _ in range(3):
    step()
steps = int(sys.argv[2])
before = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
for _ in range(steps):
    step()
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"chars_per_sec": 3200 * steps / seconds, "page_faults": after.ru_minflt - before.ru_minflt,
                  "kernel_seconds": after.ru_stime - before.ru_stime}))
"""


def run(variant: str, steps: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, variant, str(steps)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    print(f"{'round':<7}{'variant':<9}{'chars/s':>10}{'page faults':>13}{'kernel s':>10}")
    totals = {"off": 0.0, "on": 0.0}
    for r in range(args.rounds):
        for variant in ("off", "on"):
            m = run(variant, args.steps)
            totals[variant] += m["chars_per_sec"]
            print(
                f"{r + 1:<7}{variant:<9}{m['chars_per_sec']:>10,.0f}{m['page_faults']:>13,}"
                f"{m['kernel_seconds']:>10.2f}"
            )
    print(f"on/off chars/s ratio: {totals['on'] / totals['off']:.2f}")


if __name__ == "__main__":
    main()
