"""`charrnn plot`: a PNG whose figure carries the expected axes and data, a terminal chart
through uniplot, and a plain one where uniplot is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error, invoke, train_tiny

from charrnn.cli.plot import write_png
from charrnn.train.curves import load_curves
from charrnn.train.metrics_log import read_metrics


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    return [
        train_tiny(tmp_path_factory.mktemp(name), max_steps=6, eval_every=3, log_every=1, hidden_size=size)
        for name, size in (("a", 16), ("b", 32))
    ]


def test_png_figure_has_the_axes_and_the_data(runs: list[Path], tmp_path: Path):
    out = tmp_path / "curves.png"
    fig = write_png([load_curves(d) for d in runs], out)
    bpc, lr = fig.axes
    assert (bpc.get_ylabel(), lr.get_ylabel(), lr.get_xlabel()) == (
        "bits per character",
        "learning rate",
        "characters seen",
    )
    labels = [t.get_text() for t in bpc.get_legend().get_texts()]
    assert labels == [
        f"{runs[0]} train",
        f"{runs[0]} validation",
        f"{runs[1]} train",
        f"{runs[1]} validation",
    ]
    records = read_metrics(runs[0] / "metrics.jsonl")
    train_line = bpc.get_lines()[0]
    assert list(train_line.get_xdata()) == [r["chars_seen"] for r in records if r["event"] == "train"]
    assert list(train_line.get_ydata()) == [r["train_bpc"] for r in records if r["event"] == "train"]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000

    cli = invoke("plot", str(runs[0]), "--output", str(tmp_path / "cli.png"))
    assert cli.exit_code == 0 and (tmp_path / "cli.png").exists() and cli.stdout == ""


def test_terminal_chart_without_matplotlib(runs: list[Path], tmp_path: Path, monkeypatch):
    pytest.importorskip("uniplot", reason="the plot extra is not installed")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    result = invoke("plot", *map(str, runs))
    assert result.exit_code == 0, result.stderr
    assert "bits per character, against characters seen" in result.stderr
    assert "\x1b[" not in result.stderr  # not a terminal: no colours
    assert "⣀" in result.stderr or "⠉" in result.stderr  # uniplot's braille
    for run in runs:
        assert f"{run} training" in result.stderr and f"{run} validation" in result.stderr
        last = [r["val_bpc"] for r in read_metrics(run / "metrics.jsonl") if r["event"] == "val"][-1]
        assert f"  {run}, last validation {last:.4f}" in result.stderr
    assert result.stdout == ""
    assert_one_line_error(
        invoke("plot", str(runs[0]), "--output", str(tmp_path / "x.png")), "needs matplotlib"
    )
    assert not (tmp_path / "x.png").exists()


def test_the_plain_chart_without_uniplot(runs: list[Path], monkeypatch):
    monkeypatch.setitem(sys.modules, "uniplot", None)
    result = invoke("plot", *map(str, runs), "--terminal")
    assert result.exit_code == 0, result.stderr
    assert "bits per character" in result.stderr and "characters seen" in result.stderr
    assert f"o {runs[0]} validation" in result.stderr and f"* {runs[1]} validation" in result.stderr
    assert result.stdout == ""
