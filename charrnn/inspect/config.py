"""How `charrnn visualize` reads and shows a text (VisualizeConfig), validated on construction.
No PyTorch here: the CLI declares its options from these defaults."""

from __future__ import annotations

from dataclasses import dataclass

from charrnn.errors import ConfigError
from charrnn.options import check_choice

DEFAULT_CHARS = 3_000  # a few thousand characters: a page that opens at once, enough for the probe
MAX_CHARS = 20_000  # the most one page shows (its size and the time to make it grow with it)
MAX_TOP = 50


@dataclass(frozen=True)
class VisualizeConfig:
    max_chars: int = DEFAULT_CHARS  # the text is cut to this many characters (with a message)
    unit: str | None = None  # "LAYER:UNIT" coloured first (default: the best unit the probe found)
    state: str | None = None  # "c" or "h" for that unit (default: c where the cell has one)
    top: int = 3  # units reported per feature
    skip_unknown: bool = False  # drop characters outside the vocabulary instead of refusing the text
    # One thread: each character is a small matrix-vector product per layer, which more threads
    # barely speed up and slow down badly when other work holds the cores (docs/performance.md).
    threads: int = 1

    def __post_init__(self) -> None:
        if not 2 <= self.max_chars <= MAX_CHARS:
            raise ConfigError(
                f"--max-chars must be between 2 and {MAX_CHARS:,} (one page), not {self.max_chars}"
            )
        if not 1 <= self.top <= MAX_TOP:
            raise ConfigError(f"--top must be between 1 and {MAX_TOP}, not {self.top}")
        if self.state is not None:
            check_choice("--state", self.state, ("c", "h"))
        if self.threads < 1:
            raise ConfigError(f"--threads must be positive, not {self.threads}")
