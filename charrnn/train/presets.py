"""Named starting points for `charrnn train --preset NAME`: they fill in defaults, and any
option given explicitly on the command line wins over them."""

from __future__ import annotations

from typing import Any

from charrnn.options import check_choice

PRESETS: dict[str, dict[str, Any]] = {
    # Sutskever, Martens & Hinton (2011), "Generating Text with Recurrent Neural Networks": one
    # multiplicative RNN layer of 1500 units and 1500 factors, trained on sequences of 250
    # characters. Their input was a one-hot character; an embedding of 128 is as expressive for
    # any vocabulary of up to 128 characters. (They trained with Hessian-free optimisation;
    # charrnn uses AdamW, with a learning rate suited to a layer this wide.)
    "sutskever2011": {
        "cell": "mrnn",
        "num_layers": 1,
        "hidden_size": 1500,
        "factors": 1500,
        "embed_size": 128,
        "seq_len": 250,
        "lr": 2e-3,
    },
    # Krause, Lu, Murray & Renals (2016), "Multiplicative LSTM for sequence modelling", scaled to
    # a laptop: one mLSTM layer of 512 units with 512 factors (1.68 M parameters for 65
    # characters; a 2x384 LSTM has 1.90 M, the default 2x384 GRU 1.43 M).
    "mlstm": {
        "cell": "mlstm",
        "num_layers": 1,
        "hidden_size": 512,
        "factors": 512,
        "embed_size": 128,
        "lr": 4e-3,
    },
}


# Defaults that depend on the cell, applied under the same rule (explicit options and a preset
# win). The mRNN's multiplicative recurrence diverged at the LSTM's 6e-3 (gradient norm inf at
# step 232 of Tiny Shakespeare) and trains well at 2e-3.
CELL_DEFAULTS: dict[str, dict[str, Any]] = {"mrnn": {"lr": 2e-3}}


def describe_presets() -> str:
    return "; ".join(
        f"{name} ({', '.join(f'{k}={v}' for k, v in values.items())})" for name, values in PRESETS.items()
    )


def apply_preset(name: str | None, options: dict[str, Any], explicit: dict[str, Any]) -> dict[str, Any]:
    """`options` with the preset's values (if any), then the chosen cell's defaults, in place of
    every option not given explicitly; a preset's own values are not overridden by the cell's."""
    if name is not None:
        check_choice("--preset", name, PRESETS)
    preset = PRESETS[name] if name is not None else {}
    chosen = {**options, **{k: v for k, v in preset.items() if k not in explicit}}
    cell_defaults = CELL_DEFAULTS.get(chosen["cell"], {})
    return {**chosen, **{k: v for k, v in cell_defaults.items() if k not in explicit and k not in preset}}
