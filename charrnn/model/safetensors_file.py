"""A model exported as safetensors (`charrnn export --format safetensors`): a directory holding
model.safetensors (the network's state dict in float32, PyTorch's parameter names; no pickle)
and config.json (the cell and sizes, the vocabulary, the corpus and a training summary).

This module reads such a directory back as the dict a checkpoint file holds (checkpoint.py
takes it from there), so that `charrnn.load(DIR)` and every `--checkpoint DIR` read it like a
.pt file; it holds no training state, so it cannot be resumed (`--init-from` takes it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from charrnn.errors import CheckpointError

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "charrnn-safetensors"
VERSION = 1


def read_exported(
    path: Path, device: torch.device | str, checkpoint_format: str, checkpoint_version: int
) -> dict[str, Any]:
    """The checkpoint dict (format `checkpoint_format`, version `checkpoint_version`) that the
    model.safetensors at `path` and the config.json beside it describe."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config_path = path.parent / CONFIG_FILE
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} has no {CONFIG_FILE} beside it (export writes both)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{config_path} is not readable JSON ({e})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{config_path} is not a charrnn model configuration")
    if not isinstance(config.get("format_version"), int) or config["format_version"] > VERSION:
        raise CheckpointError(
            f"{config_path} has format version {config.get('format_version')}; this charrnn reads up to "
            f"{VERSION}: upgrade charrnn"
        )
    try:
        weights = load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({e})") from None
    vocabulary = config.get("vocabulary")
    if not isinstance(vocabulary, list) or not all(isinstance(c, str) and len(c) == 1 for c in vocabulary):
        raise CheckpointError(f"{config_path} has no vocabulary (a list of single characters)")
    return {
        "format": checkpoint_format,
        "format_version": checkpoint_version,
        "written_by": str(config.get("written_by", "unknown")),
        "model": config.get("model"),
        "vocabulary": "".join(vocabulary),
        "weights": weights,
        "corpus": config.get("corpus"),
        "training": None,
    }
