"""Evaluation speed: exact (batch 1, state carried) and --streams 16, next to training throughput.

The same randomly initialised model, in the same run, on the CPU: training is a full step
(forward, backward, clipping, AdamW) at batch 32 × 100 characters; evaluation has no backward pass.

    python bench/eval_speed.py [--chars 20000] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from charrnn.measure.loss import text_loss
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN
from charrnn.runtime import configure_threads

VOCAB = 65
CPU = torch.device("cpu")


def train_chars_per_sec(model: CharRNN, steps: int = 6, batch: int = 32, seq_len: int = 100) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, VOCAB, (batch, seq_len + 1))
    model.train()
    elapsed = 0.0
    for step in range(steps + 1):  # the first step warms up
        start = time.perf_counter()
        logits, _ = model(ids[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        elapsed += (time.perf_counter() - start) if step else 0.0
    return steps * batch * seq_len / elapsed


def eval_chars_per_sec(model: CharRNN, chars: int, streams: int) -> float:
    ids = np.random.default_rng(0).integers(0, VOCAB, chars + 1).astype(np.uint8)
    text_loss(model, ids[:2000], CPU, segments=streams)  # warm-up
    start = time.perf_counter()
    text_loss(model, ids, CPU, segments=streams)
    return chars / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    threads = configure_threads(args.threads)
    print(f"CPU, {threads} threads, fp32; evaluation over {args.chars:,} characters")
    print(
        f"{'model':<12}{'train chars/s':>15}{'exact chars/s':>15}{'ratio':>8}"
        f"{'16 streams chars/s':>20}{'ratio':>8}"
    )
    for hidden in (256, 512):
        torch.manual_seed(0)
        model = CharRNN(ModelConfig(vocab_size=VOCAB, cell="lstm", num_layers=2, hidden_size=hidden))
        train = train_chars_per_sec(model)
        exact = eval_chars_per_sec(model, args.chars, streams=1)
        wide = eval_chars_per_sec(model, args.chars, streams=16)
        name = f"2x{hidden} lstm"
        print(
            f"{name:<12}{train:>15,.0f}{exact:>15,.0f}{exact / train:>7.2f}x"
            f"{wide:>20,.0f}{wide / train:>7.2f}x"
        )


if __name__ == "__main__":
    main()
