"""fp32 vs bf16 on this machine: matrix-product GFLOP/s and a 2-layer LSTM training step, side by side.

This is the evidence behind `--precision auto`, which is read from the CPU's flags (never timed):
bf16 where the CPU computes it natively (AVX512_BF16 or AMX), fp32 where bf16 is only emulated
(AVX-512 without them: slower) or cannot run at all (AVX2: oneDNN has no bf16 LSTM kernel).

    python bench/precision.py [--hidden 256] [--steps 10] [--loss-steps 100]

It also trains the same model from the same seed on the same text for --loss-steps steps in
each precision and compares the losses: `auto` must only pick bf16 where it is both faster and
within 1% of fp32.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from charrnn.data.batching import stream_layout
from charrnn.data.vocab import Vocabulary
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN
from charrnn.runtime import autocast, bf16_support, choose_precision, configure_threads


def matmul_gflops(dtype: torch.dtype, size: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * size**3 * reps / (time.perf_counter() - start) / 1e9


def train_chars_per_sec(precision: str, hidden: int, steps: int, batch: int = 32, seq: int = 100) -> float:
    torch.manual_seed(0)
    device = torch.device("cpu")
    model = CharRNN(ModelConfig(vocab_size=65, hidden_size=hidden))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randint(0, 65, (batch, seq)), torch.randint(0, 65, (batch, seq))

    def step() -> None:
        with autocast(device, precision):
            logits, _ = model(x)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * seq * steps / (time.perf_counter() - start)


def loss_after(
    precision: str, hidden: int, steps: int, corpus: Path, batch: int = 32, seq: int = 100
) -> float:
    """Mean training loss over the last 10 of `steps` steps on real text, same seed and data."""
    torch.manual_seed(0)
    device = torch.device("cpu")
    text = corpus.read_text(encoding="utf-8")[:500_000]
    vocab = Vocabulary.from_text(text)
    layout = stream_layout(vocab.encode(text), batch, seq)
    model = CharRNN(ModelConfig(vocab_size=vocab.size, hidden_size=hidden))
    opt = torch.optim.AdamW(model.parameters(), lr=4e-3, weight_decay=0.0)
    losses, state = [], None
    for k in range(steps):
        x_np, y_np = layout.window(k % layout.windows_per_epoch)
        x, y = torch.from_numpy(x_np.astype("int64")), torch.from_numpy(y_np.astype("int64"))
        with autocast(device, precision):
            logits, state = model(x, state)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        state = tuple(t.detach() for t in state)
        losses.append(float(loss.detach()))
    return sum(losses[-10:]) / 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--loss-steps", type=int, default=100, help="steps for the loss comparison (0: skip)")
    parser.add_argument("--corpus", type=Path, default=Path("corpora/tinyshakespeare.txt"))
    args = parser.parse_args()
    threads = configure_threads()
    cpu = torch.device("cpu")
    support = bf16_support(cpu)
    print(
        f"{threads} threads; bf16 on {support.hardware}: {support.describe()}; "
        f"--precision auto picks {choose_precision('auto', cpu)}"
    )
    fp32, bf16 = matmul_gflops(torch.float32), matmul_gflops(torch.bfloat16)
    print(
        f"2048² matrix product: fp32 {fp32:.0f} GFLOP/s, bf16 {bf16:.2f} GFLOP/s, bf16/fp32 {bf16 / fp32:.3f}"
    )
    if not support.runs:
        print("bf16 LSTM kernels cannot run on this CPU: no training-step or loss comparison")
        return
    a = train_chars_per_sec("fp32", args.hidden, args.steps)
    b = train_chars_per_sec("bf16", args.hidden, args.steps)
    print(
        f"2x{args.hidden} LSTM training step (32x100): fp32 {a:,.0f} chars/s, bf16 {b:,.0f} chars/s, "
        f"bf16/fp32 {b / a:.2f}"
    )
    if args.loss_steps:
        lf, lb = (loss_after(p, args.hidden, args.loss_steps, args.corpus) for p in ("fp32", "bf16"))
        print(
            f"loss after {args.loss_steps} steps (mean of the last 10, Tiny Shakespeare): fp32 {lf:.4f}, "
            f"bf16 {lb:.4f}, relative difference {(lb - lf) / lf:+.2%}"
        )


if __name__ == "__main__":
    main()
