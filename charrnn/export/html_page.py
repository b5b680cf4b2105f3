"""`charrnn export --format html`: one self-contained page that samples in the browser.

The page (page.html) holds the model as JSON (config, vocabulary, weights in base64 as
quantize.py encodes them) and forward.js, a plain JavaScript forward pass for every cell; it
fetches nothing, so it opens from file:// and works offline. `window.charrnn.sample({prime,
length, temperature, topK, topP, seed})` returns the characters after the prime.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from charrnn.export.quantize import encode
from charrnn.export.weights import flat_weights, network_weights
from charrnn.files import atomic_write
from charrnn.inspect.page import with_playground
from charrnn.measure.info import CheckpointInfo
from charrnn.model.checkpoint import LoadedModel


def _asset(name: str) -> str:
    return resources.files("charrnn.export").joinpath(name).read_text(encoding="utf-8")


def page_model(loaded: LoadedModel, checkpoint: Path, weights: str) -> dict[str, Any]:
    """What the page embeds: the model's config, vocabulary, weights as `weights` encodes them."""
    about = CheckpointInfo.of(loaded, checkpoint)
    return {
        "config": loaded.checkpoint.model_config.to_dict(),
        "vocabulary": list(loaded.vocab.chars),
        "line_start": loaded.vocab.line_start,
        "weights_type": weights,
        "weights": {
            name: encode(a, weights) for name, a in flat_weights(network_weights(loaded.network)).items()
        },
        "summary": {
            "parameters": about.parameters,
            "step": about.training.step if about.training else None,
            "best_val_bits_per_char": about.training.best_val_bits if about.training else None,
            "charrnn_version": loaded.checkpoint.written_by,
        },
    }


def page_html(loaded: LoadedModel, checkpoint: Path, weights: str) -> str:
    # The JSON sits in a <script> element: "<" escaped so that no "</script>" can end it early.
    data = json.dumps(page_model(loaded, checkpoint, weights), separators=(",", ":")).replace("<", "\\u003c")
    cfg = loaded.checkpoint.model_config
    title = f"{cfg.num_layers}×{cfg.hidden_size} {cfg.cell}"
    page = (
        with_playground(_asset("page.html"))
        .replace("/*CHARRNN_TITLE*/", title)
        .replace("/*CHARRNN_FORWARD_JS*/", _asset("forward.js"))
    )
    return page.replace("/*CHARRNN_MODEL*/", data)


def export_html(loaded: LoadedModel, checkpoint: Path, output: Path, weights: str) -> list[Path]:
    html = page_html(loaded, checkpoint, weights).encode("utf-8")
    atomic_write(output, lambda f: f.write(html), mode=0o644)
    return [output]
