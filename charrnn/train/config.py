"""The training configuration: every option of `charrnn train`, validated on construction."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from charrnn.errors import ConfigError
from charrnn.model.network import ModelConfig


@dataclass(frozen=True)
class TrainConfig:
    corpus: str
    checkpoint_dir: str = "checkpoints"
    # model
    cell: str = "lstm"
    num_layers: int = 2
    hidden_size: int = 384
    embed_size: int = 64
    dropout: float = 0.0
    factors: int = 0  # mrnn/mlstm factor size; 0 = hidden_size
    # data
    val_frac: float = 0.1
    batch_size: int = 32
    seq_len: int = 100
    # optimisation
    lr: float = 6e-3
    min_lr_frac: float = 0.02
    warmup_steps: int = 50
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    # stopping: whichever comes first
    epochs: float = 5.0  # may be fractional: 0.5 = half a pass over a big corpus
    max_steps: int | None = None
    max_minutes: float | None = 9.5  # None: no time limit
    # reporting
    eval_every: int = 1000
    val_streams: int = 1  # 1 = exact; K > 1 evaluates K contiguous segments side by side
    log_every: int = 20
    sample_chars: int = 200
    # runtime
    seed: int = 1234
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None  # None: one per physical core

    def __post_init__(self) -> None:
        self.model_config(vocab_size=1)  # validates the architecture fields
        positive = {
            "batch_size": "--batch-size",
            "seq_len": "--seq-len",
            "epochs": "--epochs",
            "eval_every": "--eval-every",
            "val_streams": "--val-streams",
            "log_every": "--log-every",
        }
        for name, flag in positive.items():
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):  # written so that NaN fails too
                raise ConfigError(f"{flag} must be positive, not {value}")
        checks = [
            (0.0 < self.val_frac < 1.0, "--val-frac must be in (0, 1)", self.val_frac),
            (self.lr > 0 and math.isfinite(self.lr), "--lr must be positive", self.lr),
            (0.0 <= self.min_lr_frac <= 1.0, "--min-lr-frac must be in [0, 1]", self.min_lr_frac),
            (self.warmup_steps >= 0, "--warmup-steps must be >= 0", self.warmup_steps),
            (
                self.weight_decay >= 0 and math.isfinite(self.weight_decay),
                "--weight-decay must be >= 0",
                self.weight_decay,
            ),
            (self.grad_clip > 0, "--grad-clip must be positive", self.grad_clip),
            (self.sample_chars >= 0, "--sample-chars must be >= 0", self.sample_chars),
            (self.threads is None or self.threads > 0, "--threads must be positive", self.threads),
            (self.max_steps is None or self.max_steps > 0, "--max-steps must be positive", self.max_steps),
            (
                self.max_minutes is None or (self.max_minutes > 0 and math.isfinite(self.max_minutes)),
                "--max-minutes must be positive (0 = no limit)",
                self.max_minutes,
            ),
        ]
        for ok, message, value in checks:
            if not ok:
                raise ConfigError(f"{message}, not {value}")

    def model_config(self, vocab_size: int) -> ModelConfig:
        return ModelConfig(
            vocab_size=vocab_size,
            cell=self.cell,
            num_layers=self.num_layers,
            hidden_size=self.hidden_size,
            embed_size=self.embed_size,
            factors=self.factors,
            dropout=self.dropout,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# What `--resume` may change: limits (a changed limit re-plans the run), reporting, and where and
# in which precision it runs (a changed precision is warned about: it ends bitwise exactness).
# Everything else would make the continued run a different run from the one the checkpoint started.
RESUMABLE_OVERRIDES = frozenset(
    {
        "epochs",
        "max_steps",
        "max_minutes",
        "eval_every",
        "log_every",
        "sample_chars",
        "device",
        "precision",
        "threads",
        "val_streams",
    }
)
