"""Sampling speed: charrnn's generation loop vs a naive per-character loop over the same model.

Both run in this process, on the same randomly initialised weights, at batch 1 on the CPU;
the naive loop is what a hand-written notebook does: call the model on one character with the
carried state, softmax, draw. (For mrnn/mlstm charrnn itself steps through the model's forward
pass, so the two are expected to be close.) Also reports --num-samples 16 throughput
(characters per second summed over the samples), and the ceiling that memory bandwidth puts on
a batch-1 step: every float32 weight is read once per character, at the rate a large NumPy
matrix-vector product reads memory on this machine (measured here, in the same run).

    python bench/sample_speed.py [--chars 3000] [--threads N] [--json bench/sample_speed.json]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

from charrnn.generate.sampling import SampleConfig, generate_ids
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN
from charrnn.runtime import configure_threads

VOCAB = 65
# Weights that multiply the first layer's input only: an input-side table lookup at batch 1.
FIRST_INPUT_SIDE = {"weight_ih_l0", "layers.0.w_fx", "layers.0.w_hx", "layers.0.w_mx", "layers.0.w_x"}


@torch.no_grad()
def naive_chars_per_sec(model: CharRNN, chars: int) -> float:
    generator = torch.Generator().manual_seed(0)
    state = None
    x = torch.zeros(1, 1, dtype=torch.long)
    start = time.perf_counter()
    for _ in range(chars):
        logits, state = model(x, state)  # embedding, the recurrent stack, the output layer
        probs = torch.softmax(logits[0, -1] / 0.8, dim=-1)
        x = torch.multinomial(probs, 1, generator=generator).view(1, 1)
    return chars / (time.perf_counter() - start)


def charrnn_chars_per_sec(model: CharRNN, chars: int, num_samples: int = 1) -> float:
    generator = torch.Generator().manual_seed(0)
    config = SampleConfig(length=chars, temperature=0.8, num_samples=num_samples)
    start = time.perf_counter()
    for _ in generate_ids(model, np.array([0]), config, generator):
        pass
    return chars * num_samples / (time.perf_counter() - start)


def gemv_bytes_per_sec(megabytes: int = 32) -> float:
    """Memory read rate of a float32 matrix-vector product too large for any cache."""
    rows = megabytes * 2**20 // (4 * 1024)
    w = np.random.default_rng(0).standard_normal((rows, 1024), dtype=np.float32)
    x, out = np.ones(1024, dtype=np.float32), np.empty(rows, dtype=np.float32)
    np.dot(w, x, out=out)
    best = math.inf
    for _ in range(20):
        start = time.perf_counter()
        np.dot(w, x, out=out)
        best = min(best, time.perf_counter() - start)
    return w.nbytes / best


def weight_bytes_per_char(model: CharRNN) -> int:
    """float32 bytes a batch-1 step reads: recurrent weights (layer 0's input side is a table
    lookup) and the output layer."""
    recurrent = sum(p.numel() for n, p in model.recurrent.named_parameters() if n not in FIRST_INPUT_SIDE)
    return 4 * (recurrent + model.head.weight.numel())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default="bench/sample_speed.json")
    parser.add_argument("--cells", default="lstm,gru,mrnn,mlstm")
    args = parser.parse_args()
    threads = configure_threads(args.threads)
    rows = []
    bandwidth = gemv_bytes_per_sec()
    print(f"batch-1 sampling on the CPU, {threads} threads, {args.chars} characters per measurement")
    print(f"memory read by a float32 matrix-vector product: {bandwidth / 1e9:.1f} GB/s")
    print(
        f"{'model':<12}{'naive chars/s':>15}{'charrnn chars/s':>17}{'ratio':>8}"
        f"{'ceiling chars/s':>17}{'16 samples chars/s':>20}"
    )
    for cell in args.cells.split(","):
        for hidden in (256, 512):
            torch.manual_seed(0)
            model = CharRNN(ModelConfig(vocab_size=VOCAB, cell=cell, num_layers=2, hidden_size=hidden)).eval()
            naive_chars_per_sec(model, 200)  # warm-up
            charrnn_chars_per_sec(model, 200)
            naive = naive_chars_per_sec(model, args.chars)
            ours = charrnn_chars_per_sec(model, args.chars)
            batch16 = charrnn_chars_per_sec(model, args.chars // 4, num_samples=16)
            name = f"2x{hidden} {cell}"
            ceiling = bandwidth / weight_bytes_per_char(model)
            print(
                f"{name:<12}{naive:>15,.0f}{ours:>17,.0f}{ours / naive:>7.1f}x"
                f"{ceiling:>17,.0f}{batch16:>20,.0f}"
            )
            rows.append(
                {
                    "model": name,
                    "naive_chars_per_sec": naive,
                    "charrnn_chars_per_sec": ours,
                    "ratio": ours / naive,
                    "bandwidth_ceiling_chars_per_sec": ceiling,
                    "num_samples_16_chars_per_sec": batch16,
                }
            )
    with open(args.json, "w") as f:
        json.dump(
            {"threads": threads, "chars": args.chars, "gemv_bytes_per_sec": bandwidth, "rows": rows},
            f,
            indent=2,
        )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
