"""Beam search against greedy on a trained model, side by side in one run: the continuation's
log-probability (nats a character), how often it repeats itself, and the time it takes.

    python bench/beam.py --checkpoint checkpoints/best.pt [--prime "ROMEO:"] [--length 300]
        [--beams 1 2 4 8 16] [--json bench/beam.json]

A beam of 1 is greedy. Characters a second count the characters of the text found (a beam of K
steps K hypotheses a character, and the greedy candidate besides).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from machine import describe_machine

from charrnn.generate.beam import beam_search
from charrnn.model.checkpoint import load_model
from charrnn.runtime import configure_threads


def distinct_share(text: str, n: int = 20) -> float:
    """The share of the text's n-grams that occur once: 1 for text that never repeats itself."""
    grams = [text[i : i + n] for i in range(len(text) - n + 1)]
    return len(set(grams)) / max(len(grams), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--prime", default="ROMEO:\n")
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    threads = configure_threads(None)
    loaded = load_model(args.checkpoint)
    prime = loaded.vocab.encode(args.prime)
    where = f"{args.checkpoint}, prime {args.prime!r}, {args.length} chars"
    print(f"{describe_machine()}; {threads} threads; {where}")
    rows = []
    for beam in args.beams:
        start = time.perf_counter()
        found = beam_search(loaded.network, loaded.vocab, prime, args.length, beam)
        seconds = time.perf_counter() - start
        text = loaded.vocab.decode(found.ids.tolist())
        rows.append(
            {
                "beam": beam,
                "nats_per_char": -found.log_prob / max(len(found.ids), 1),
                "distinct_20grams": distinct_share(text),
                "seconds": seconds,
                "chars_per_sec": len(found.ids) / seconds,
                "text": text,
            }
        )
    print(f"{'beam':>5}{'nats/char':>11}{'distinct 20-grams':>19}{'seconds':>9}{'chars/s':>9}  text")
    for r in rows:
        shown = r["text"][:60].replace("\n", "⏎")
        print(
            f"{r['beam']:>5}{r['nats_per_char']:>11.4f}{r['distinct_20grams']:>19.0%}"
            f"{r['seconds']:>9.2f}{r['chars_per_sec']:>9,.0f}  {shown}"
        )
    if args.json:
        payload = {"cpu": describe_machine(), "threads": threads, "prime": args.prime, "rows": rows}
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
