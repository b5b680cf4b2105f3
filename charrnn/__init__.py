"""charrnn: character-level recurrent language models — train, sample, measure.

From Python:

    import charrnn

    model = charrnn.load("checkpoints/best.pt")
    print(model.sample(length=300, temperature=0.8, prime="ROMEO:", seed=1))

`import charrnn` stays light (no PyTorch): `load` imports it when it is first called, and
`charrnn.Model` and the result types are read from `charrnn.api` when first named.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from charrnn.api import CharSurprise, Model, Scored, TextResult

# The one place the version is written: pyproject.toml reads it from here (a literal is read
# without importing the package metadata, which `charrnn --version` would otherwise wait for).
__version__ = "0.4.0"

__all__ = ["CharSurprise", "Model", "Scored", "TextResult", "__version__", "load"]

_FROM_API = {"CharSurprise", "Model", "Scored", "TextResult"}


def load(checkpoint: str | Path | None = None, device: str = "cpu") -> Model:
    """Load a checkpoint (a `.pt` file, or a run directory: its best.pt, else last.pt; by default
    `checkpoints/`) on `device` (cpu, cuda, mps or auto), as a `charrnn.Model`: `sample`,
    `stream`, `samples`, `perplexity`, `score`, `surprise`, `info`. See `charrnn.api.load`."""
    from charrnn.api import load as load_checkpoint

    return load_checkpoint(checkpoint, device)


def __getattr__(name: str) -> Any:
    if name in _FROM_API:
        import charrnn.api

        return getattr(charrnn.api, name)
    raise AttributeError(f"module 'charrnn' has no attribute {name!r}")
