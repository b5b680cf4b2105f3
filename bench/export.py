"""What `charrnn export --format html` costs, per `--weights`: the page's size, the nats/char of
the weights it carries on the checkpoint's validation text (against fp32, charrnn's own exact
perplexity with the weights rounded as the page rounds them), and its sampling speed in headless
Chromium (the system's; skipped without it), beside charrnn's own on the same CPU; and the ONNX
file's size and onnxruntime's speed reading the validation text.

    python bench/export.py --checkpoint checkpoints/ [--eval-chars 100000] [--chars 2000]
        [--json bench/export.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import describe_machine

from charrnn.export.formats import export_model
from charrnn.export.quantize import WEIGHT_TYPES, stored
from charrnn.measure.loss import text_loss
from charrnn.model.checkpoint import load_model
from charrnn.model.paths import resolve_checkpoint
from charrnn.model.trained_on import trained_on


def rounded_nats(checkpoint: Path, val_ids: np.ndarray) -> dict[str, float]:
    out = {}
    for kind in WEIGHT_TYPES:
        loaded = load_model(checkpoint)
        with torch.no_grad():
            for p in loaded.network.parameters():
                p.copy_(torch.from_numpy(stored(p.detach().float().numpy(), kind)))
        out[kind] = text_loss(loaded.network.eval(), val_ids, torch.device("cpu"), "fp32").nats_per_char
    return out


def browser_speed(page: Path, chars: int) -> tuple[float, str] | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        tab = browser.new_page()
        tab.goto(page.as_uri())
        tab.wait_for_function("() => window.charrnn !== undefined")
        tab.evaluate("async () => await window.charrnn.sample({length: 200, seed: 1})")  # warm up
        seconds = tab.evaluate(
            "async (n) => { const t = performance.now();"
            " await window.charrnn.sample({length: n, seed: 2}); return (performance.now() - t) / 1000; }",
            chars,
        )
        version = browser.version
        browser.close()
    return chars / seconds, f"Chromium {version}"


def charrnn_speed(checkpoint: Path, chars: int) -> float:
    import charrnn

    model = charrnn.load(checkpoint)
    model.sample(length=200, seed=1)
    start = time.perf_counter()
    model.sample(length=chars, seed=2)
    return chars / (time.perf_counter() - start)


def onnx_speed(model: Path, val_ids: np.ndarray, window: int = 100) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model))
    shape = session.get_inputs()[1].shape
    state = {i.name: np.zeros((shape[0], 1, shape[2]), np.float32) for i in session.get_inputs()[1:]}
    start = time.perf_counter()
    for s in range(0, len(val_ids), window):
        _, *carried = session.run(None, {"ids": val_ids[None, s : s + window].astype(np.int64), **state})
        state = dict(zip(state, carried, strict=True))
    return len(val_ids) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--eval-chars", type=int, default=100_000, help="validation characters to score")
    parser.add_argument("--chars", type=int, default=2000, help="characters to sample for the speeds")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    checkpoint = resolve_checkpoint(args.checkpoint)
    loaded = load_model(checkpoint)
    val_ids = trained_on(loaded, checkpoint, instead="").validation[: args.eval_chars + 1]
    cfg = loaded.checkpoint.model_config
    print(f"{describe_machine()}; {checkpoint}: {cfg.num_layers}x{cfg.hidden_size} {cfg.cell}")
    nats = rounded_nats(checkpoint, val_ids)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in WEIGHT_TYPES:
            page = Path(tmp) / f"{kind}.html"
            export_model(checkpoint, "html", page, kind)
            speed = browser_speed(page, args.chars)
            rows.append(
                {
                    "weights": kind,
                    "page_bytes": page.stat().st_size,
                    "nats_per_char": nats[kind],
                    "nats_vs_fp32": nats[kind] - nats["fp32"],
                    "browser_chars_per_sec": None if speed is None else speed[0],
                    "browser": None if speed is None else speed[1],
                }
            )
            print(
                f"--weights {kind}: page {page.stat().st_size / 1e6:.2f} MB, {nats[kind]:.5f} nats/char "
                f"({nats[kind] - nats['fp32']:+.5f} vs fp32), "
                + ("no chromium" if speed is None else f"{speed[0]:,.0f} chars/s in {speed[1]}")
            )
        onnx = Path(tmp) / "model.onnx"
        export_model(checkpoint, "onnx", onnx)
        onnx_bytes, ort_speed = onnx.stat().st_size, onnx_speed(onnx, val_ids)
    own = charrnn_speed(checkpoint, args.chars)
    print(f"onnx: {onnx_bytes / 1e6:.2f} MB; onnxruntime reads {ort_speed:,.0f} chars/s (windows of 100)")
    print(f"charrnn sample, this process: {own:,.0f} chars/s")
    if args.json:
        result = {
            "machine": describe_machine(),
            "checkpoint": str(checkpoint),
            "model": cfg.to_dict(),
            "eval_chars": len(val_ids) - 1,
            "sample_chars": args.chars,
            "html": rows,
            "onnx_bytes": onnx_bytes,
            "onnxruntime_chars_per_sec": ort_speed,
            "charrnn_sample_chars_per_sec": own,
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
