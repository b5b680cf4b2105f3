"""`charrnn info`: what a checkpoint holds, as plain JSON-ready data and as a rich table.

Like char-rnn's inspect_checkpoint.lua, but for people: the model, its vocabulary (invisible
characters escaped), the corpus it learned from, how far training got and how well it did.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from charrnn.measure.loss import LN2
from charrnn.model.checkpoint import load_checkpoint, model_from_checkpoint
from charrnn.model.network import count_parameters


def _bits(nats: float | None) -> float | None:
    return None if nats is None or not math.isfinite(nats) else nats / LN2


def describe_checkpoint(path: Path) -> dict[str, Any]:
    data = load_checkpoint(path)
    loaded = model_from_checkpoint(data, path, torch.device("cpu"))  # the weights must fit the config
    config = loaded.model.config
    progress = dict(data.get("progress") or {})
    vals = [r for r in data.get("history") or [] if r.get("event") == "val"]
    best = progress.get("best_val_loss")
    last = vals[-1]["val_loss"] if vals else None
    return {
        "checkpoint": str(path),
        "format_version": data["format_version"],
        "charrnn_version": data.get("charrnn_version"),
        "model": {**config.to_dict(), "parameters": count_parameters(loaded.model)},
        "vocabulary": {"size": loaded.vocab.size, "chars": list(loaded.vocab.chars)},
        "corpus": data.get("corpus"),
        "training": {
            "step": progress.get("step"),
            "epochs": progress.get("epoch", 0) + _epoch_fraction(data, progress) if progress else None,
            "chars_seen": progress.get("chars_seen"),
            "seconds": progress.get("seconds"),
            "precision": data.get("precision"),
            "plan": data.get("plan"),
            "best_val_nats_per_char": best if best is not None and math.isfinite(best) else None,
            "best_val_bits_per_char": _bits(best),
            "last_val_nats_per_char": last,
            "last_val_bits_per_char": _bits(last),
            "config": data.get("train_config"),
        },
    }


def _epoch_fraction(data: dict[str, Any], progress: dict[str, Any]) -> float:
    """The current epoch's completed part, from the last logged record (0 if unknown)."""
    history = data.get("history") or []
    if history and history[-1].get("step") == progress.get("step"):
        return float(history[-1].get("epoch", 0.0)) % 1.0
    return 0.0


def _show_chars(chars: list[str]) -> str:
    return " ".join(repr(c) if not c.isprintable() or c.isspace() else c for c in chars)


def render_info(info: dict[str, Any], console: Console) -> None:
    model, vocab, corpus, train = info["model"], info["vocabulary"], info["corpus"], info["training"]
    table = Table(title=info["checkpoint"], show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    factors = (
        f", {model['factors'] or model['hidden_size']} factors" if model["cell"] in ("mrnn", "mlstm") else ""
    )
    shape = f"{model['num_layers']} × {model['hidden_size']} {model['cell']}{factors}"
    table.add_row(
        "model",
        f"{shape}, embedding {model['embed_size']}, dropout {model['dropout']:g}; "
        f"{model['parameters']:,} parameters",
    )
    table.add_row("vocabulary", f"{vocab['size']} characters: {_show_chars(vocab['chars'])}")
    if corpus:
        table.add_row(
            "corpus",
            f"{corpus.get('path')}, {corpus.get('size', 0):,} bytes, "
            f"{corpus.get('num_chars', 0):,} characters, sha256 {str(corpus.get('sha256'))[:16]}…, "
            f"validation {corpus.get('val_frac')}",
        )
    if train["step"] is not None:
        table.add_row(
            "training",
            f"step {train['step']:,}, {train['epochs']:.2f} epochs, {train['chars_seen']:,} characters, "
            f"{train['seconds'] / 60:.1f} min, {train['precision']}",
        )
    plan = train.get("plan")
    if plan:
        settled = "" if plan["settled"] else ", not yet settled against the time budget"
        table.add_row(
            "plan", f"{plan['total_steps']:,} steps, set by --{plan['limited_by'].replace('_', '-')}{settled}"
        )
    for which in ("best", "last"):
        nats = train[f"{which}_val_nats_per_char"]
        if nats is not None:
            table.add_row(
                f"{which} validation",
                f"{nats:.4f} nats/char, {train[f'{which}_val_bits_per_char']:.4f} bits/char",
            )
    if train["config"]:
        table.add_row("configuration", ", ".join(f"{k}={v}" for k, v in train["config"].items()))
    table.add_row("format", f"version {info['format_version']}, written by charrnn {info['charrnn_version']}")
    console.print(table)
