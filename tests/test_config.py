"""What `charrnn train` asks for: the options given on the command line win over a preset, which
wins over the cell's defaults, which win over TrainConfig's; and every value is validated."""

import json
from dataclasses import fields
from pathlib import Path

import pytest
from conftest import invoke

from charrnn.errors import ConfigError
from charrnn.train.config import TrainConfig
from charrnn.train.presets import PRESETS
from charrnn.train.run_config import config_from_options

DEFAULTS = {f.name: f.default for f in fields(TrainConfig) if f.name != "corpus"}


def _config(explicit: dict, preset: str | None = None) -> TrainConfig:
    return config_from_options(
        {**DEFAULTS, **explicit},
        explicit,
        corpus=[Path("c.txt")],
        preset=preset,
        resume=False,
        init_from=None,
    )


def test_a_preset_fills_defaults_and_explicit_options_win():
    config = _config({"hidden_size": 32}, preset="sutskever2011")
    assert (config.cell, config.num_layers, config.factors, config.seq_len) == ("mrnn", 1, 1500, 250)
    assert config.hidden_size == 32
    assert _config({}, preset="mlstm").hidden_size == PRESETS["mlstm"]["hidden_size"]


@pytest.mark.parametrize(
    ("explicit", "preset", "lr"),
    [
        ({"cell": "mrnn"}, None, 2e-3),  # the mRNN's own default
        ({"cell": "mrnn", "lr": 1e-2}, None, 1e-2),  # explicit wins
        ({}, None, TrainConfig.lr),  # the LSTM's
        ({}, "sutskever2011", PRESETS["sutskever2011"]["lr"]),  # a preset's own value wins over the cell's
    ],
)
def test_the_mrnn_gets_its_own_learning_rate_unless_one_is_given(
    explicit: dict, preset: str | None, lr: float
):
    assert _config(explicit, preset).lr == lr


def test_the_command_line_tells_explicit_options_from_defaults(tmp_path: Path, tiny_corpus: Path):
    ck = tmp_path / "ck"
    tiny = ["--embed", "8", "--batch-size", "2", "--seq-len", "8", "--max-steps", "1", "--sample-chars", "0"]
    trained = invoke(
        "train",
        str(tiny_corpus),
        "--checkpoint-dir",
        str(ck),
        "--preset",
        "mlstm",
        "--hidden",
        "16",
        *tiny,
        "--quiet",
    )
    assert trained.exit_code == 0, trained.stderr
    model = json.loads(invoke("info", str(ck / "last.pt"), "--json").stdout)["model"]
    assert (model["cell"], model["hidden_size"], model["factors"]) == (
        "mlstm",
        16,
        PRESETS["mlstm"]["factors"],
    )
    assert "sutskever2011" in invoke("train", "--help").stdout


def test_a_preset_cannot_change_a_resumed_run():
    with pytest.raises(ConfigError, match="--preset cannot be combined with --resume"):
        config_from_options(DEFAULTS, {}, corpus=None, preset="mlstm", resume=True, init_from=None)


def test_the_default_network_is_written_once_and_old_checkpoints_keep_what_they_were_trained_with():
    from charrnn.model.config import FIELDS_UNSAID, ModelConfig

    trained = TrainConfig(corpus=("c.txt",)).model_config(vocab_size=5)
    assert trained == ModelConfig(vocab_size=5)  # what `charrnn train` trains is ModelConfig's default
    assert (trained.cell, trained.num_layers, trained.hidden_size) == ("gru", 2, 384)
    old = ModelConfig.from_dict({"vocab_size": 5})  # a checkpoint that says no more than this
    assert {k: getattr(old, k) for k in FIELDS_UNSAID} == FIELDS_UNSAID
    assert (old.cell, old.hidden_size, old.dropout) == ("lstm", 512, 0.0)
