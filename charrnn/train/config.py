"""The training configuration: every option of `charrnn train`, validated on construction."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from charrnn.errors import ConfigError
from charrnn.model.config import ModelConfig, known_fields
from charrnn.options import (
    DEFAULT_CHECKPOINT_DIR,
    DEFAULT_VAL_FRAC,
    DEVICES,
    PRECISIONS,
    check_choice,
    flag_of,
)
from charrnn.train.schedule import Schedule

DEFAULT_CORPUS = Path("corpora") / "tinyshakespeare.txt"


def default_corpus() -> Path:
    """The shipped Tiny Shakespeare: from the working directory, else beside the source tree."""
    if DEFAULT_CORPUS.exists():
        return DEFAULT_CORPUS
    beside_package = Path(__file__).resolve().parents[2] / DEFAULT_CORPUS
    return beside_package if beside_package.exists() else DEFAULT_CORPUS


@dataclass(frozen=True)
class TrainConfig:
    corpus: tuple[str, ...]  # the paths to train on: files and folders (data/sources.py); one str is one path
    checkpoint_dir: str = str(DEFAULT_CHECKPOINT_DIR)
    # model (the defaults are the winner of the sweep in bench/sweep.md)
    # the network: the default network's (model/config.py)
    cell: str = ModelConfig.cell
    num_layers: int = ModelConfig.num_layers
    # None: sized to the budget where only --max-minutes limits a fresh GRU run (train/sizing.py),
    # else ModelConfig's; a run's recorded configuration always holds the width it trained
    hidden_size: int | None = None
    embed_size: int = ModelConfig.embed_size
    dropout: float = ModelConfig.dropout
    factors: int = ModelConfig.factors  # mrnn/mlstm factor size; 0 = hidden_size
    # data
    val_frac: float = DEFAULT_VAL_FRAC  # of each file: its last part
    batch_size: int = 32
    seq_len: int = 100
    # optimisation
    lr: float = 6e-3
    min_lr_frac: float = 0.02
    warmup_steps: int = 50
    decay_frac: float = 0.35  # the plan's last fraction of steps, in which the rate decays to the floor
    weight_decay: float = 0.2
    grad_clip: float = 1.0
    # stopping: whichever comes first
    epochs: float | None = None  # may be fractional (0.5 = half a pass); None: no epoch limit
    max_steps: int | None = None
    max_minutes: float | None = 9.5  # None: no time limit
    # reporting
    eval_every: int | None = None  # None: about once a minute, settled with the plan (plan.py)
    val_segments: int | None = None  # None: the last validation exact, those before in 16 segments
    log_every: int = 20
    sample_chars: int = 200
    # runtime
    seed: int = 1234
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None  # None: one per physical core

    def __post_init__(self) -> None:
        if isinstance(self.corpus, str | Path):  # one path, as a Python caller may give it
            object.__setattr__(self, "corpus", (str(self.corpus),))
        object.__setattr__(self, "corpus", tuple(str(path) for path in self.corpus))
        self.model_config(vocab_size=1)  # validates the architecture fields
        check_choice("--device", self.device, DEVICES)
        check_choice("--precision", self.precision, PRECISIONS)
        for name in ("batch_size", "seq_len", "epochs", "eval_every", "val_segments", "log_every"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):  # NaN fails too
                raise ConfigError(f"{flag_of(name)} must be positive, not {value}")
        if self.epochs is None and self.max_steps is None and self.max_minutes is None:
            raise ConfigError(
                "nothing would end this run: give --epochs, --max-steps or a --max-minutes above 0"
            )
        checks = [
            (0.0 < self.val_frac < 1.0, "--val-frac must be in (0, 1)", self.val_frac),
            (self.lr > 0 and math.isfinite(self.lr), "--lr must be positive", self.lr),
            (0.0 <= self.min_lr_frac <= 1.0, "--min-lr-frac must be in [0, 1]", self.min_lr_frac),
            (self.warmup_steps >= 0, "--warmup-steps must be >= 0", self.warmup_steps),
            (0.0 < self.decay_frac <= 1.0, "--decay-frac must be in (0, 1]", self.decay_frac),
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
            hidden_size=ModelConfig.hidden_size if self.hidden_size is None else self.hidden_size,
            embed_size=self.embed_size,
            factors=self.factors,
            dropout=self.dropout,
        )

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.lr, self.warmup_steps, self.min_lr_frac, self.decay_frac)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "corpus": list(self.corpus)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TrainConfig:
        """From a checkpoint's training record: options it lacks take today's defaults."""
        return cls(**known_fields(cls, record, "training configuration"))


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
        "val_segments",
    }
)
