"""Sampling speed: charrnn's generation loop vs a naive per-character nn.LSTM/nn.GRU loop.

Both run in this process, on the same randomly initialised weights, at batch 1 on the CPU;
the naive loop is what a hand-written notebook does: embed one character, call the nn module
with the carried state, project, softmax, draw. Also reports --num-samples 16 throughput
(characters per second summed over the samples).

    python bench/sample_speed.py [--chars 3000] [--threads N] [--json bench/sample_speed.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from charrnn.model import CharRNN, ModelConfig
from charrnn.runtime import configure_threads
from charrnn.sampling import SampleConfig, generate_ids

VOCAB = 65


@torch.no_grad()
def naive_chars_per_sec(model: CharRNN, chars: int) -> float:
    generator = torch.Generator().manual_seed(0)
    state = None
    x = torch.zeros(1, 1, dtype=torch.long)
    start = time.perf_counter()
    for _ in range(chars):
        emb = model.embedding(x)
        out, state = model.recurrent(emb, state)
        probs = torch.softmax(model.head(out[0, -1]) / 0.8, dim=-1)
        x = torch.multinomial(probs, 1, generator=generator).view(1, 1)
    return chars / (time.perf_counter() - start)


def charrnn_chars_per_sec(model: CharRNN, chars: int, num_samples: int = 1) -> float:
    generator = torch.Generator().manual_seed(0)
    config = SampleConfig(length=chars, temperature=0.8, num_samples=num_samples)
    start = time.perf_counter()
    for _ in generate_ids(model, np.array([0]), config, generator):
        pass
    return chars * num_samples / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default="bench/sample_speed.json")
    args = parser.parse_args()
    threads = configure_threads(args.threads)
    rows = []
    print(f"batch-1 sampling on the CPU, {threads} threads, {args.chars} characters per measurement")
    print(f"{'model':<12}{'naive chars/s':>15}{'charrnn chars/s':>17}{'ratio':>8}{'16 samples chars/s':>20}")
    for cell in ("lstm", "gru"):
        for hidden in (256, 512):
            torch.manual_seed(0)
            model = CharRNN(ModelConfig(vocab_size=VOCAB, cell=cell, num_layers=2, hidden_size=hidden)).eval()
            naive_chars_per_sec(model, 200)  # warm-up
            charrnn_chars_per_sec(model, 200)
            naive = naive_chars_per_sec(model, args.chars)
            ours = charrnn_chars_per_sec(model, args.chars)
            batch16 = charrnn_chars_per_sec(model, args.chars // 4, num_samples=16)
            name = f"2x{hidden} {cell}"
            print(f"{name:<12}{naive:>15,.0f}{ours:>17,.0f}{ours / naive:>7.1f}x{batch16:>20,.0f}")
            rows.append(
                {
                    "model": name,
                    "naive_chars_per_sec": naive,
                    "charrnn_chars_per_sec": ours,
                    "ratio": ours / naive,
                    "num_samples_16_chars_per_sec": batch16,
                }
            )
    with open(args.json, "w") as f:
        json.dump({"threads": threads, "chars": args.chars, "rows": rows}, f, indent=2)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
