"""ModelConfig: the network's shape, validated on construction (no PyTorch here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from charrnn.errors import CheckpointError, ConfigError
from charrnn.options import check_choice, flag_of

MULTIPLICATIVE = ("mrnn", "mlstm")  # the cells written in cells.py; the others are PyTorch's own
CELLS = ("lstm", "gru", "rnn", *MULTIPLICATIVE)


# What a checkpoint that does not say a field was trained with: the defaults of the charrnn that
# wrote the first checkpoints (a 2x512 LSTM, no dropout; factors came with the mRNN).
FIELDS_UNSAID: dict[str, Any] = {
    "cell": "lstm",
    "num_layers": 2,
    "hidden_size": 512,
    "embed_size": 64,
    "dropout": 0.0,
    "factors": 0,
}


@dataclass(frozen=True)
class ModelConfig:
    """The network's shape. Its defaults are the default network, the one `charrnn train` trains
    (train/config.py reads them from here)."""

    vocab_size: int
    cell: str = "gru"
    num_layers: int = 2
    hidden_size: int = 384
    embed_size: int = 64
    dropout: float = 0.1
    factors: int = 0  # mrnn/mlstm: size of the multiplicative factor layer; 0 = hidden_size

    def __post_init__(self) -> None:
        check_choice("--cell", self.cell, CELLS)
        for name in ("vocab_size", "num_layers", "hidden_size", "embed_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{flag_of(name)} must be positive, not {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"--dropout must be in [0, 1), not {self.dropout}")
        if self.factors < 0:
            raise ConfigError(f"--factors must be >= 0 (0 = the hidden size), not {self.factors}")

    @property
    def factor_size(self) -> int:
        return self.factors or self.hidden_size

    @property
    def has_cell_state(self) -> bool:
        return self.cell in ("lstm", "mlstm")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """From a checkpoint: fields it lacks take FIELDS_UNSAID; fields this version does not
        know are refused by name (a newer format would have said so in its version)."""
        return cls(**{**FIELDS_UNSAID, **known_fields(cls, d, "model configuration")})


def known_fields(cls: type, d: dict[str, Any], what: str) -> dict[str, Any]:
    """`d` restricted to the dataclass `cls`'s fields; unknown ones are a CheckpointError."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise CheckpointError(f"has unknown fields in its {what}: {', '.join(unknown)}")
    return {k: v for k, v in d.items() if k in names}
