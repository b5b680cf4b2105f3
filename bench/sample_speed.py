"""Sampling speed: charrnn's generation loop against a naive per-character loop over the same
model and against its ceiling, the same matrix-vector products bare.

All in this process, on the same randomly initialised weights, at batch 1 on the CPU, best of
--rounds alternating rounds:
- naive: what a hand-written notebook does: call the model on one character with the carried
  state, softmax, draw;
- charrnn: `generate_ids` (temperature 0.8), as `charrnn sample` runs it;
- ceiling: a loop of nothing but the matrix-vector products a character needs, the NumpyStepper's
  own (same matrices, same buffers, same BLAS), so the ceiling holds whether the weights sit in
  a cache or stream from memory. charrnn's share of it is what its other work (gates, sampling,
  Python) costs. For mrnn/mlstm charrnn steps through the model's own forward pass: no ceiling.
- 16 samples: --num-samples 16 throughput (characters per second summed over the samples).

Half the bytes a character: the ceiling's products in PyTorch with float32, bfloat16 and
float16 weights on the default model's shapes, and with --checkpoint, that model's nats/char
on its validation text with its weights rounded to each.

    python bench/sample_speed.py [--chars 3000] [--rounds 5] [--checkpoint checkpoints/best.pt]
        [--json bench/sample_speed.json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from machine import describe_machine

from charrnn.generate.sampling import SampleConfig, generate_ids
from charrnn.generate.stepper import NumpyStepper
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN
from charrnn.runtime import configure_threads

VOCAB = 65
MODELS = "lstm:256 lstm:512 gru:256 gru:384 gru:512 mrnn:256 mlstm:256"


@torch.no_grad()
def naive(model: CharRNN, chars: int) -> float:
    generator = torch.Generator().manual_seed(0)
    state = None
    x = torch.zeros(1, 1, dtype=torch.long)
    start = time.perf_counter()
    for _ in range(chars):
        logits, state = model(x, state)  # embedding, the recurrent stack, the output layer
        probs = torch.softmax(logits[0, -1] / 0.8, dim=-1)
        x = torch.multinomial(probs, 1, generator=generator).view(1, 1)
    return chars / (time.perf_counter() - start)


def charrnn(model: CharRNN, chars: int, num_samples: int = 1) -> float:
    generator = torch.Generator().manual_seed(0)
    config = SampleConfig(length=chars, temperature=0.8, num_samples=num_samples)
    start = time.perf_counter()
    for _ in generate_ids(model, np.array([0]), config, generator):
        pass
    return chars * num_samples / (time.perf_counter() - start)


def ceiling(model: CharRNN, chars: int) -> float:
    """Characters a second of the NumpyStepper's matrix-vector products alone."""
    products = NumpyStepper(model, 1).products()
    start = time.perf_counter()
    for _ in range(chars):
        for f, args in products:
            f(*args)
    return chars / (time.perf_counter() - start)


def best(measure: Callable[[], float], rounds: int) -> float:
    return max(measure() for _ in range(rounds))


def speed_rows(models: list[str], chars: int, rounds: int) -> list[dict]:
    rows = []
    for spec in models:
        cell, hidden = spec.split(":")
        torch.manual_seed(0)
        config = ModelConfig(vocab_size=VOCAB, cell=cell, num_layers=2, hidden_size=int(hidden))
        model = CharRNN(config).eval()
        stepped = cell in ("lstm", "gru", "rnn")
        naive(model, 200), charrnn(model, 200)  # warm-up
        figures = {"naive": 0.0, "charrnn": 0.0, "ceiling": 0.0}
        for _ in range(rounds):  # alternating, so a slow moment costs each alike
            figures["naive"] = max(figures["naive"], naive(model, chars // 3))
            figures["charrnn"] = max(figures["charrnn"], charrnn(model, chars))
            if stepped:
                figures["ceiling"] = max(figures["ceiling"], ceiling(model, chars))
        batch16 = charrnn(model, chars // 4, num_samples=16)
        rows.append(
            {
                "model": f"2x{hidden} {cell}",
                "naive_chars_per_sec": figures["naive"],
                "charrnn_chars_per_sec": figures["charrnn"],
                "ceiling_chars_per_sec": figures["ceiling"] or None,
                "share_of_ceiling": figures["charrnn"] / figures["ceiling"] if stepped else None,
                "num_samples_16_chars_per_sec": batch16,
            }
        )
    return rows


def half_speeds(hidden: int, chars: int, rounds: int) -> dict[str, float]:
    """The default GRU's products (3 of 3H x H, the head) as torch.mv, per weight dtype."""
    shapes = [(3 * hidden, hidden)] * 3 + [(VOCAB, hidden)]
    speeds = {}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16), ("float16", torch.float16)):
        weights = [torch.randn(shape).to(dtype) for shape in shapes]
        x = torch.randn(hidden).to(dtype)
        outs = [torch.empty(shape[0], dtype=dtype) for shape in shapes]

        def loop(n: int, weights: list = weights, x: torch.Tensor = x, outs: list = outs) -> float:
            start = time.perf_counter()
            for _ in range(n):
                for w, out in zip(weights, outs, strict=True):
                    torch.mv(w, x, out=out)
            return n / (time.perf_counter() - start)

        loop(50)
        speeds[name] = best(lambda loop=loop: loop(chars), rounds)
    return speeds


def rounded_losses(checkpoint: Path, chars: int) -> dict[str, float]:
    """nats/char over the first `chars` of the checkpoint's validation text, exact, its weights
    rounded to each dtype (the arithmetic in float32)."""
    from charrnn.measure.loss import text_loss
    from charrnn.model.checkpoint import load_model
    from charrnn.model.trained_on import trained_on

    loaded = load_model(checkpoint)
    val_ids = trained_on(loaded, checkpoint, instead="").validation[: chars + 1]
    losses = {}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16), ("float16", torch.float16)):
        model = loaded.checkpoint.build_model("cpu")
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.to(dtype).float())
        losses[name] = text_loss(model, val_ids, torch.device("cpu"), "fp32").nats_per_char
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--models", nargs="+", default=MODELS.split())
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="also: its nats/char with rounded weights"
    )
    parser.add_argument("--eval-chars", type=int, default=20_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    threads = configure_threads(args.threads)
    print(f"{describe_machine()}; batch-1 sampling, {threads} threads, best of {args.rounds} rounds")
    rows = speed_rows(args.models, args.chars, args.rounds)
    columns = f"{'naive':>10}{'charrnn':>10}{'vs naive':>10}{'ceiling':>10}{'share':>8}{'16 samples':>12}"
    print(f"{'model':<12}{columns}")
    for r in rows:
        share = f"{r['share_of_ceiling']:.0%}" if r["share_of_ceiling"] else "–"
        top = f"{r['ceiling_chars_per_sec']:,.0f}" if r["ceiling_chars_per_sec"] else "–"
        print(
            f"{r['model']:<12}{r['naive_chars_per_sec']:>10,.0f}{r['charrnn_chars_per_sec']:>10,.0f}"
            f"{r['charrnn_chars_per_sec'] / r['naive_chars_per_sec']:>9.1f}x{top:>10}{share:>8}"
            f"{r['num_samples_16_chars_per_sec']:>12,.0f}"
        )
    halves = half_speeds(384, args.chars, args.rounds)
    print(
        "the 2x384 GRU's products in torch.mv, chars/s: "
        + ", ".join(f"{k} {v:,.0f}" for k, v in halves.items())
    )
    losses = rounded_losses(args.checkpoint, args.eval_chars) if args.checkpoint else {}
    if losses:
        base = losses["float32"]
        print(
            f"{args.checkpoint}, {args.eval_chars:,} validation characters, weights rounded: "
            + ", ".join(f"{k} {v:.5f} ({v - base:+.5f})" for k, v in losses.items())
        )
    if args.json:
        payload = {
            "cpu": describe_machine(),
            "threads": threads,
            "chars": args.chars,
            "rows": rows,
            "torch_mv_chars_per_sec": halves,
            "rounded_weights_nats_per_char": losses,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
