"""Which checkpoint file a user means: the file named, or a run directory's best.pt, else
last.pt (an exported directory's model.safetensors); with none, checkpoints/'s. Every command
and `charrnn.load` resolve it here."""

from __future__ import annotations

from pathlib import Path

from charrnn.errors import CheckpointError
from charrnn.model.safetensors_file import WEIGHTS_FILE
from charrnn.options import DEFAULT_CHECKPOINT_DIR


def resolve_checkpoint(path: str | Path | None) -> Path:
    """The checkpoint file a user names: `path` itself, or for a run directory its best.pt, else
    last.pt (for an exported one, its model.safetensors); with none, that of `checkpoints/`.
    Every command and `charrnn.load` read it so."""
    if path is None:
        return default_checkpoint()
    path = Path(path)
    return default_checkpoint(path) if path.is_dir() else path


def default_checkpoint(checkpoint_dir: Path = DEFAULT_CHECKPOINT_DIR) -> Path:
    """best.pt, else last.pt, of a checkpoint directory; model.safetensors of an exported one."""
    for name in ("best.pt", "last.pt", WEIGHTS_FILE):
        if (checkpoint_dir / name).is_file():
            return checkpoint_dir / name
    raise CheckpointError(
        f"no checkpoint in {checkpoint_dir}/ (looked for best.pt, last.pt and model.safetensors): train "
        "one with `charrnn train`, or pass --checkpoint PATH"
    )
