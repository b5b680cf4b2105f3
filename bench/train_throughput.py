"""charrnn's whole training step against a bare PyTorch loop of the same size, in the same run.

charrnn: `train()` itself on a slice of Tiny Shakespeare (data windows, forward, summed loss,
backward, clipping, AdamW, schedule, divergence guard, metrics.jsonl and observers), timed from
its first log line to its last. Bare: embedding → nn.LSTM/nn.GRU → linear → cross-entropy →
Adam on fixed random batches, nothing else; for mrnn/mlstm the bare model is an nn.LSTM with
as many parameters (issue 7's target: ≥ 0.5× its speed). Both at batch 64 × 100, the given precision. The
achieved GFLOP/s (matrix products of the forward pass × 3 for forward + backward) are shown
as a fraction of a matrix-product peak measured in the same run (2048² products).

    python bench/train_throughput.py [--sizes 256,512] [--cells lstm,gru] [--precisions fp32,bf16]
                                     [--steps 8] [--rounds 3] [--json bench/train_throughput.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from precision import matmul_gflops

from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN, count_parameters
from charrnn.runtime import autocast, bf16_support, configure_threads
from charrnn.train.config import TrainConfig
from charrnn.train.loop import train
from charrnn.train.observers import StepsLogged, TrainObserver

BATCH, SEQ, EMBED, LAYERS = 64, 100, 64, 2
CPU = torch.device("cpu")
GATES = {"lstm": 4, "gru": 3}
MULTIPLICATIVE = ("mrnn", "mlstm")


def lstm_parameters(hidden: int, vocab: int) -> int:
    layers = sum(4 * hidden * (inp + hidden + 2) for inp in [EMBED] + [hidden] * (LAYERS - 1))
    return vocab * EMBED + layers + hidden * vocab + vocab


def equal_parameter_lstm(model_parameters: int, vocab: int) -> int:
    """The nn.LSTM hidden size (a multiple of 8) whose model has about as many parameters."""
    return min(range(8, 4097, 8), key=lambda h: abs(lstm_parameters(h, vocab) - model_parameters))


def flops_per_char(cell: str, hidden: int, vocab: int) -> float:
    """Matrix-product FLOPs per character of forward + backward (backward ≈ 2 × forward).
    Multiplicative cells (factors = hidden): mRNN 4 products of H², mLSTM 2 of H² and 2 of 4H²."""
    inputs = [EMBED] + [hidden] * (LAYERS - 1)
    if cell == "mrnn":
        forward = sum(2 * (2 * inp * hidden + 2 * hidden * hidden) for inp in inputs)
    elif cell == "mlstm":
        forward = sum(
            2 * (inp * hidden + hidden * hidden + inp * 4 * hidden + hidden * 4 * hidden) for inp in inputs
        )
    else:
        forward = sum(2 * (inp + hidden) * GATES[cell] * hidden for inp in inputs)
    return 3 * (forward + 2 * hidden * vocab)


class _Clock(TrainObserver):
    def __init__(self) -> None:
        self.stamps: list[tuple[float, int]] = []

    def on_log(self, event: StepsLogged) -> None:
        self.stamps.append((time.perf_counter(), event.chars_seen))


def charrnn_chars_per_sec(corpus: Path, cell: str, hidden: int, precision: str, steps: int) -> float:
    clock = _Clock()
    log_every = max(1, steps // 3)
    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(
            corpus=str(corpus),
            checkpoint_dir=tmp,
            cell=cell,
            hidden_size=hidden,
            embed_size=EMBED,
            batch_size=BATCH,
            seq_len=SEQ,
            val_frac=0.02,
            max_steps=log_every + steps,
            eval_every=10**9,
            val_segments=16,
            log_every=log_every,
            sample_chars=0,
            device="cpu",
            precision=precision,
        )
        train(config, [clock])
    (t0, c0), (t1, c1) = clock.stamps[0], clock.stamps[-1]  # from the first log: warm-up excluded
    return (c1 - c0) / (t1 - t0)


def bare_chars_per_sec(cell: str, hidden: int, vocab: int, precision: str, steps: int) -> float:
    torch.manual_seed(0)
    rnn_type = nn.LSTM if cell == "lstm" else nn.GRU
    embed, rnn, head = (
        nn.Embedding(vocab, EMBED),
        rnn_type(EMBED, hidden, LAYERS, batch_first=True),
        nn.Linear(hidden, vocab),
    )
    params = [*embed.parameters(), *rnn.parameters(), *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    x, y = torch.randint(0, vocab, (BATCH, SEQ)), torch.randint(0, vocab, (BATCH, SEQ))

    def step() -> None:
        with autocast(CPU, precision):
            out, _ = rnn(embed(x))
            logits = head(out)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return BATCH * SEQ * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--cells", default="lstm,gru,mrnn,mlstm")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each is kept")
    parser.add_argument("--corpus", type=Path, default=Path("corpora/tinyshakespeare.txt"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    threads = configure_threads()
    precisions = args.precisions.split(",")
    if "bf16" in precisions and not bf16_support(CPU).runs:
        print(f"bf16 cannot run on {bf16_support(CPU).hardware}: fp32 only")
        precisions = [p for p in precisions if p != "bf16"]
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    peak = {p: matmul_gflops(dtypes[p]) for p in precisions}
    text = args.corpus.read_text(encoding="utf-8")
    vocab = len(set(text))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "slice.txt"
        corpus.write_text(text[:400_000], encoding="utf-8")  # enough windows; a small validation part
        for cell in args.cells.split(","):
            for hidden in map(int, args.sizes.split(",")):
                for precision in precisions:
                    # Alternating rounds, best of each: this machine's speed drifts by ±30%
                    # between identical runs, and a background stall only ever slows a round.
                    # The multiplicative cells are compared with an nn.LSTM of as many parameters.
                    ref_cell, ref_hidden = cell, hidden
                    if cell in MULTIPLICATIVE:
                        size = ModelConfig(vocab_size=vocab, cell=cell, num_layers=LAYERS, hidden_size=hidden)
                        ref_cell = "lstm"
                        ref_hidden = equal_parameter_lstm(count_parameters(CharRNN(size)), vocab)
                    bare, ours = 0.0, 0.0
                    for _ in range(args.rounds):
                        bare = max(
                            bare, bare_chars_per_sec(ref_cell, ref_hidden, vocab, precision, args.steps)
                        )
                        ours = max(ours, charrnn_chars_per_sec(corpus, cell, hidden, precision, args.steps))
                    gflops = ours * flops_per_char(cell, hidden, vocab) / 1e9
                    rows.append(
                        {
                            "model": f"{LAYERS}x{hidden} {cell}",
                            "bare_model": f"{LAYERS}x{ref_hidden} {ref_cell}",
                            "precision": precision,
                            "bare_chars_per_sec": round(bare),
                            "charrnn_chars_per_sec": round(ours),
                            "ratio": round(ours / bare, 3),
                            "charrnn_gflops": round(gflops, 1),
                            "fraction_of_peak": round(gflops / peak[precision], 3),
                        }
                    )
                    r = rows[-1]
                    share = f"{gflops:6.1f} GFLOP/s = {r['fraction_of_peak']:.0%} of peak"
                    print(
                        f"{r['model']:<11} {precision:<5} bare {r['bare_model']:<10} {bare:>8,.0f}  "
                        f"charrnn {ours:>8,.0f} chars/s  "
                        f"ratio {r['ratio']:.2f}  {share}",
                        flush=True,
                    )
    peaks = ", ".join(f"{p} {g:.0f}" for p, g in peak.items())
    print(f"{threads} threads; matrix-product peak: {peaks} GFLOP/s")
    if args.json:
        payload = {
            "threads": threads,
            "peak_gflops": peak,
            "batch": [BATCH, SEQ],
            "rounds": args.rounds,
            "rows": rows,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
