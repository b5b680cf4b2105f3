"""`charrnn visualize` speed: its pass over a text next to `charrnn perplexity`'s exact pass, on
the same model and text in the same run, and the whole command (checkpoint to page on disk).

The visualize pass keeps every layer's state at every character (each layer run alone, the
LSTM cell state recovered by a linear scan), the probe's sums, the top-5 guesses and the int8
activations of the page; the exact pass only sums the loss. Random weights (speed does not
depend on them), the start of Tiny Shakespeare as the text.

    python bench/visualize_speed.py [--chars 20000] [--threads 1] [--models lstm:2x512 gru:2x512]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from machine import describe_machine

from charrnn.data.vocab import Vocabulary
from charrnn.inspect.config import VisualizeConfig
from charrnn.inspect.visualize import ShownText, read_model, visualize
from charrnn.measure.loss import text_loss
from charrnn.model.checkpoint import Checkpoint, LoadedModel
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN
from charrnn.runtime import configure_threads

CORPUS = Path(__file__).resolve().parent.parent / "corpora" / "tinyshakespeare.txt"
CPU = torch.device("cpu")


def best_of(runs: int, work) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3, help="best of this many, each")
    parser.add_argument(
        "--models", nargs="+", default=["lstm:2x256", "lstm:2x512", "gru:2x512", "mlstm:2x512"]
    )
    args = parser.parse_args()
    threads = configure_threads(args.threads)
    text = CORPUS.read_text(encoding="utf-8")[: args.chars]
    vocab = Vocabulary.from_text(CORPUS.read_text(encoding="utf-8"))
    ids = vocab.encode(text)
    shown = ShownText(text, ids, "bench", False, 0, "")
    print(f"{describe_machine()}; {threads} thread(s), fp32; {len(ids):,} characters, best of {args.runs}")
    header = f"{'model':<14}{'perplexity s':>14}{'visualize pass s':>18}{'ratio':>8}"
    print(header + f"{'whole command s':>17}{'page MB':>9}")
    for spec in args.models:
        cell, shape = spec.split(":")
        layers, hidden = (int(n) for n in shape.split("x"))
        torch.manual_seed(0)
        config = ModelConfig(vocab.size, cell, num_layers=layers, hidden_size=hidden, embed_size=64)
        model = CharRNN(config).eval()
        checkpoint = Checkpoint(config, vocab, model.state_dict(), written_by="bench")
        loaded = LoadedModel(model, checkpoint)
        read_model(loaded, ShownText(text[:500], ids[:500], "warm-up", False, 0, ""), CPU)
        exact = best_of(args.runs, lambda model=model: text_loss(model, ids, CPU))
        traced = best_of(args.runs, lambda loaded=loaded: read_model(loaded, shown, CPU))
        with tempfile.TemporaryDirectory() as tmp:
            path, page = Path(tmp) / "model.pt", Path(tmp) / "page.html"
            checkpoint.save(path)
            options = VisualizeConfig(max_chars=args.chars, threads=args.threads)
            whole = best_of(
                args.runs,
                lambda path=path, page=page, options=options: visualize(
                    options, output=page, checkpoint=path, text=text
                ),
            )
            size = page.stat().st_size / 1e6
        name = f"{layers}×{hidden} {cell}"
        print(f"{name:<14}{exact:>14.2f}{traced:>18.2f}{traced / exact:>7.2f}×{whole:>17.2f}{size:>9.1f}")


if __name__ == "__main__":
    main()
