"""How `charrnn perplexity` measures (MeasureConfig) and adapts (DynamicConfig), validated on
construction. No PyTorch here: the CLI declares its options from these defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass

from charrnn.errors import ConfigError
from charrnn.options import PRECISIONS, UNKNOWN_POLICIES, check_choice


@dataclass(frozen=True)
class DynamicConfig:
    """Dynamic evaluation (measure/dynamic.py): the step size, the pull back toward the trained
    weights, and the characters scored between two updates."""

    lr: float = 3e-4
    decay: float = 0.01
    seg_len: int = 50

    def __post_init__(self) -> None:
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"--dynamic-lr must be > 0, not {self.lr}")
        if not 0 <= self.decay <= 1:
            raise ConfigError(f"--dynamic-decay must be in [0, 1], not {self.decay}")
        if self.seg_len < 1:
            raise ConfigError(f"--dynamic-seg-len must be >= 1, not {self.seg_len}")


@dataclass(frozen=True)
class MeasureConfig:
    segments: int = 1  # 1 = exact; K > 1: K contiguous segments side by side, warmed (approximate)
    unknown: str = "skip"  # characters outside the vocabulary: skip (and count) or error
    baselines: bool = True  # gzip, bz2 and lzma on the same text
    precision: str = "fp32"
    dynamic: DynamicConfig | None = None

    def __post_init__(self) -> None:
        if self.segments < 1:
            raise ConfigError(f"--segments must be >= 1, not {self.segments}")
        check_choice("--unknown", self.unknown, UNKNOWN_POLICIES)
        check_choice("--precision", self.precision, PRECISIONS)
        if self.dynamic is not None and self.segments > 1:
            raise ConfigError("--dynamic reads the text in order: use it with --segments 1")
