"""Evaluation speed: exact (batch 1, state carried), 16 segments, and 16 segments each warmed by
the 1,024 characters before it (how training validates before its last validation), next to
training throughput.

The same randomly initialised model, in the same run, on the CPU: training is a full step
(forward, backward, clipping, AdamW) at batch 32 × 100 characters; evaluation has no backward pass.

    python bench/eval_speed.py [--chars 20000] [--threads N] [--precision fp32|bf16|auto]
        [--models lstm:256 lstm:512 gru:384]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from charrnn.measure.loss import SEGMENT_WARMUP, text_loss
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN
from charrnn.runtime import autocast, choose_precision, configure_threads

VOCAB = 65
CPU = torch.device("cpu")


def train_chars_per_sec(
    model: CharRNN, precision: str, steps: int = 6, batch: int = 32, seq_len: int = 100
) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, VOCAB, (batch, seq_len + 1))
    model.train()
    elapsed = 0.0
    for step in range(steps + 1):  # the first step warms up
        start = time.perf_counter()
        with autocast(CPU, precision):
            logits, _ = model(ids[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), ids[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        elapsed += (time.perf_counter() - start) if step else 0.0
    return steps * batch * seq_len / elapsed


def eval_chars_per_sec(model: CharRNN, chars: int, segments: int, precision: str, warmup: int = 0) -> float:
    ids = np.random.default_rng(0).integers(0, VOCAB, chars + 1).astype(np.uint8)
    text_loss(model, ids[:2000], CPU, precision, segments=segments)  # first-call allocations
    start = time.perf_counter()
    text_loss(model, ids, CPU, precision, segments=segments, warmup=warmup)
    return chars / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--models", nargs="+", default=["lstm:256", "lstm:512", "gru:384"])
    args = parser.parse_args()
    threads = configure_threads(args.threads)
    precision = choose_precision(args.precision, CPU)
    print(f"CPU, {threads} threads, {precision}; evaluation over {args.chars:,} characters")
    print(
        f"{'model':<12}{'train chars/s':>15}{'exact chars/s':>15}{'ratio':>8}"
        f"{'16 segments':>12}{'ratio':>8}{'16 warmed':>12}{'ratio':>8}"
    )
    for spec in args.models:
        cell, hidden = spec.split(":")
        torch.manual_seed(0)
        config = ModelConfig(vocab_size=VOCAB, cell=cell, num_layers=2, hidden_size=int(hidden))
        model = CharRNN(config)
        train = train_chars_per_sec(model, precision)
        exact = eval_chars_per_sec(model, args.chars, 1, precision)
        wide = eval_chars_per_sec(model, args.chars, 16, precision)
        warmed = eval_chars_per_sec(model, args.chars, 16, precision, warmup=SEGMENT_WARMUP)
        print(
            f"{'2x' + hidden + ' ' + cell:<12}{train:>15,.0f}{exact:>15,.0f}{exact / train:>7.2f}x"
            f"{wide:>12,.0f}{wide / train:>7.2f}x{warmed:>12,.0f}{warmed / train:>7.2f}x"
        )


if __name__ == "__main__":
    main()
