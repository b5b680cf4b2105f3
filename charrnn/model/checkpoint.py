"""Versioned, atomic, safe checkpoints: a dict of tensors and plain values, nothing pickled beyond that.

A checkpoint rebuilds its model alone (config + vocabulary + weights) and, for `train --resume`,
carries everything needed to continue exactly: optimizer, schedule position, stream position,
carried hidden state and RNG state.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from charrnn.data.vocab import Vocabulary
from charrnn.errors import CheckpointError
from charrnn.model.network import CharRNN, ModelConfig

FORMAT = "charrnn-checkpoint"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("format", "format_version", "model_config", "vocab", "model_state")
TEMP_SUFFIX = ".tmp"  # a write in progress is ".NAME.<random>.tmp" beside NAME


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def save_checkpoint(payload: dict[str, Any], path: Path) -> None:
    """Write atomically: a temporary file in the same directory, fsynced, then os.replace.

    A crash or a full disk at any moment leaves the previous checkpoint at `path` untouched.
    """
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException as e:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(e, (OSError, RuntimeError)):  # torch.save reports a failed write as RuntimeError
            reason = getattr(e, "strerror", None) or str(e).strip().splitlines()[0]
            raise CheckpointError(f"could not write checkpoint {path}: {reason}") from None
        raise


def remove_unfinished_writes(directory: Path, names: tuple[str, ...]) -> int:
    """Delete the temporary files of writes to `names` that a killed process never finished; how many.

    Only call this while holding the directory (run_lock): a live writer's file would go too.
    """
    removed = 0
    for name in names:
        for tmp in directory.glob(f"{_temp_prefix(directory / name)}*{TEMP_SUFFIX}"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a checkpoint's data safely (weights_only: no code can run) and check its format."""
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"checkpoint is a directory, not a file: {path}")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles; the refusal says enough
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as e:
        code = re.search(r"GLOBAL ([\w.]+)", str(e))
        if code is None:  # not a pickle of plain data at all
            raise CheckpointError(f"{path} is not a readable checkpoint (not a PyTorch file)") from None
        raise CheckpointError(
            f"refusing to load {path}: it asks for the Python object {code.group(1)}, beyond plain "
            "data (loading it could run arbitrary code)"
        ) from None
    except Exception as e:  # zip, EOF, key and OS errors all mean: unreadable
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint ({first_line})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a charrnn checkpoint")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version}; this charrnn reads up to "
            f"{FORMAT_VERSION}: upgrade charrnn"
        )
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise CheckpointError(f"{path} is incomplete: missing {', '.join(missing)}")
    return data


@dataclass(frozen=True)
class LoadedModel:
    model: CharRNN
    vocab: Vocabulary
    data: dict[str, Any]


def model_from_checkpoint(data: dict[str, Any], path: Path, device: torch.device) -> LoadedModel:
    """Rebuild the model and vocabulary a checkpoint describes; mismatches are CheckpointErrors."""
    try:
        config = ModelConfig.from_dict(dict(data["model_config"]))
        vocab = Vocabulary(str(data["vocab"]))
        if vocab.size != config.vocab_size:
            raise ValueError(f"vocabulary of {vocab.size} characters, config says {config.vocab_size}")
        model = CharRNN(config)
        model.load_state_dict(data["model_state"], strict=True)
    except Exception as e:  # any inconsistency inside the file means the file is bad
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} is inconsistent: {first_line}") from None
    return LoadedModel(model=model.to(device), vocab=vocab, data=data)


def load_model(path: Path, device: torch.device) -> LoadedModel:
    return model_from_checkpoint(load_checkpoint(path, device), path, device)


def default_checkpoint(checkpoint_dir: Path = Path("checkpoints")) -> Path:
    """best.pt, else last.pt, of a checkpoint directory."""
    for name in ("best.pt", "last.pt"):
        if (checkpoint_dir / name).is_file():
            return checkpoint_dir / name
    raise CheckpointError(
        f"no checkpoint in {checkpoint_dir}/ (looked for best.pt and last.pt): train one with "
        "`charrnn train`, or pass --checkpoint PATH"
    )
