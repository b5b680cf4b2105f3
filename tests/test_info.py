"""`charrnn info`: a checkpoint described, as a table and as JSON, for every cell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import PHRASE, invoke, train_tiny

from charrnn.model.checkpoint import load_model


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "mrnn", "mlstm"])
def test_info_describes_each_cell(tmp_path: Path, cell: str):
    ck = train_tiny(tmp_path, cell=cell, max_steps=4, eval_every=2)
    result = invoke("info", str(ck / "last.pt"), "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["model"]["cell"] == cell and info["model"]["hidden_size"] == 32
    network = load_model(ck / "last.pt").network
    assert info["model"]["parameters"] == sum(p.numel() for p in network.parameters())
    assert info["vocabulary"]["size"] == len(set(PHRASE))
    assert "".join(info["vocabulary"]["chars"]) == "".join(sorted(set(PHRASE)))
    assert info["corpus"]["num_chars"] == len(PHRASE) * 40 and len(info["corpus"]["files"][0]["sha256"]) == 64
    training = info["training"]
    assert training["step"] == 4 and training["chars_seen"] == 4 * 4 * 16
    assert training["best_val_bits_per_char"] == pytest.approx(
        training["best_val_nats_per_char"] / 0.6931471805599453
    )
    history = load_model(ck / "last.pt").checkpoint.training.history
    assert training["last_val_nats_per_char"] == history[-1].val_loss
    assert training["best_val_nats_per_char"] == min(v.val_loss for v in history)
    assert training["config"]["cell"] == cell
    assert training["plan"]["total_steps"] == 4 and training["plan"]["limited_by"] == "max_steps"

    table = invoke("info", str(ck))  # a directory: its best.pt
    assert table.exit_code == 0 and table.stdout == ""
    for label in ("model", "vocabulary", "corpus", "training", "plan", "best validation", "configuration"):
        assert label in table.stderr
    assert "'\\n'" in table.stderr and "' '" in table.stderr  # invisible characters escaped
    shown = " ".join(table.stderr.replace("│", " ").split())  # the table's text, its wrapping undone
    best = load_model(ck / "best.pt").checkpoint.training.progress.best_val_loss
    assert f"best validation {best:.4f} nats/char, {best / 0.6931471805599453:.4f} bits/char" in shown
    assert f"{info['model']['parameters']:,} parameters" in shown and "training step 4, " in shown


def test_info_takes_the_checkpoint_as_every_command_does_or_as_an_argument(overfit_dir: Path):
    by_argument = invoke("info", str(overfit_dir), "--json")
    by_option = invoke("info", "--checkpoint", str(overfit_dir), "--json")
    assert by_argument.exit_code == by_option.exit_code == 0, by_option.stderr
    assert json.loads(by_option.stdout) == json.loads(by_argument.stdout)
    assert json.loads(by_option.stdout)["checkpoint"] == str(overfit_dir / "best.pt")

