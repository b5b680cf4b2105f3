"""What the sizing rule (charrnn/train/sizing.py) chooses on this machine, and what each sweep
text's own curves would have chosen: for budgets of 2, 10 and 30 minutes, in bf16 (where it
runs) and fp32, from each width's probed speed at one thread on Tiny Shakespeare.

    python bench/size_rule.py [--corpus corpora/tinyshakespeare.txt] [--rows bench/size_sweep.jsonl]

A row: the precision, the budget, the steps the budget buys each width, the width chosen, and
per text the width its own curve prefers (the regret of the choice on that text, and what the
choice gains over 384 units by that text's curve), as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from machine import describe_machine


def main() -> None:
    from charrnn.data.corpus import load_corpus
    from charrnn.runtime import bf16_support
    from charrnn.train import sizing
    from charrnn.train.config import TrainConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="corpora/tinyshakespeare.txt")
    parser.add_argument("--rows", type=Path, default=Path(__file__).with_name("size_sweep.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line.strip()]
    texts = sorted({r["corpus"] for r in rows})
    end = max(n for n, _ in sizing.CURVES[min(sizing.CURVES)])
    curves = sizing.CURVES

    def text_loss(text: str, width: int, steps: int) -> float:
        own = tuple(
            sorted(
                (r["steps"], r["val_nats_per_char"])
                for r in rows
                if r["corpus"] == text and r["width"] == width and r["steps"] <= end
            )
        )
        sizing.CURVES = {width: own}
        try:
            return sizing.expected_loss(width, steps)
        finally:
            sizing.CURVES = curves

    corpus = load_corpus((args.corpus,))
    train_ids, _ = corpus.split()
    print(describe_machine())
    head = "| precision | budget (min) | steps the budget buys each width | chosen | "
    print(head + " | ".join(texts) + " |")
    print("| --- | ---: | --- | ---: |" + " --- |" * len(texts))
    precisions = ["bf16", "fp32"] if bf16_support(torch.device("cpu")).runs else ["fp32"]
    for precision in precisions:
        config = TrainConfig(corpus=args.corpus, max_minutes=10, threads=1, precision=precision)
        seconds = {
            w: sizing.probe_seconds(config, corpus.vocab.size, train_ids, torch.device("cpu"), precision, w)
            for w in sorted(curves)
        }
        speeds = ", ".join(f"{w}: {config.batch_size * config.seq_len / s:,.0f}" for w, s in seconds.items())
        print(f"<!-- {precision} chars/s at one thread: {speeds} -->")
        for minutes in (2, 10, 30):
            chosen = sizing.choose_width(seconds, minutes * 60)
            steps = {c.width: c.steps for c in chosen.candidates}
            cells = []
            for text in texts:
                losses = {w: text_loss(text, w, steps[w]) for w in curves}
                best = min(losses, key=lambda w: losses[w])
                regret = losses[chosen.width] - losses[best]
                gain = losses[384] - losses[chosen.width]
                cells.append(f"{best} ({regret:.3f}; {gain:+.3f} vs 384)")
            buys = ", ".join(f"{w}: {n:,}" for w, n in steps.items())
            print(f"| {precision} | {minutes} | {buys} | **{chosen.width}** | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
