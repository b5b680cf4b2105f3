"""Units: one dimension of one layer's recurrent state, named `layer:unit` (layer 1 is the one
nearest the input; units count from 0). An LSTM or mLSTM unit has two states, its cell state c
and its output h; a GRU, tanh RNN or mRNN unit has one, its hidden state h.

Every (layer, state, unit) is one column of a trace, in this order: layer by layer, and within a
layer the cell states first, then the outputs (`UnitLayout.index`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from charrnn.errors import ConfigError
from charrnn.model.config import ModelConfig

CELL_STATE, OUTPUT = "c", "h"


@dataclass(frozen=True, order=True)
class UnitRef:
    layer: int  # 1 = nearest the input
    unit: int  # 0 to hidden_size - 1
    state: str  # "c" (LSTM and mLSTM cell state) or "h"

    def __str__(self) -> str:
        return f"{self.layer}:{self.unit} {self.state}"

    def to_dict(self) -> dict[str, int | str]:
        return {"layer": self.layer, "unit": self.unit, "state": self.state}


@dataclass(frozen=True)
class UnitLayout:
    """The units of a model and the column of each (layer, state, unit) in a trace."""

    cell: str
    num_layers: int
    hidden_size: int

    @classmethod
    def of(cls, config: ModelConfig) -> UnitLayout:
        return cls(config.cell, config.num_layers, config.hidden_size)

    @property
    def states(self) -> tuple[str, ...]:
        return (CELL_STATE, OUTPUT) if self.cell in ("lstm", "mlstm") else (OUTPUT,)

    @property
    def count(self) -> int:
        """Columns in a trace: layers × states × units."""
        return self.num_layers * len(self.states) * self.hidden_size

    def index(self, ref: UnitRef) -> int:
        block = (ref.layer - 1) * len(self.states) + self.states.index(ref.state)
        return block * self.hidden_size + ref.unit

    def ref(self, index: int) -> UnitRef:
        block, unit = divmod(index, self.hidden_size)
        layer, state = divmod(block, len(self.states))
        return UnitRef(layer + 1, unit, self.states[state])

    def is_cell_state(self, index: int) -> bool:
        return self.ref(index).state == CELL_STATE

    def parse(self, spec: str, state: str | None = None) -> UnitRef:
        """`--unit 2:37` (and `--state c`/`h`, by default c where there is one) as a unit of this
        model; a ConfigError saying what is wrong and what the model has."""
        match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", spec)
        if match is None:
            raise ConfigError(f"--unit must be LAYER:UNIT, e.g. 1:37, not {spec!r}")
        layer, unit = int(match.group(1)), int(match.group(2))
        if not 1 <= layer <= self.num_layers:
            raise ConfigError(
                f"--unit {spec}: the model has {self.num_layers} layer(s), numbered 1 to {self.num_layers}"
            )
        if not 0 <= unit < self.hidden_size:
            last = self.hidden_size - 1
            raise ConfigError(f"--unit {spec}: each layer has {self.hidden_size} units, numbered 0 to {last}")
        return UnitRef(layer, unit, self.check_state(state))

    def check_state(self, state: str | None) -> str:
        if state is None:
            return self.states[0]
        if state not in self.states:
            names = " and ".join(self.states)
            raise ConfigError(f"--state {state}: a {self.cell} unit has {names}; --state must be one of them")
        return state
