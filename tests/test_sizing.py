"""The default network sized to the budget (train/sizing.py): the sweep's curves as the rule
reads them, the choice for given speeds, and a sized run: recorded, printed, repeatable."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import PHRASE, invoke

from charrnn.model.checkpoint import Checkpoint
from charrnn.train import sizing
from charrnn.train.config import TrainConfig
from charrnn.train.plan import describe
from charrnn.train.start import snapshot, start_run

SWEEP = Path(__file__).resolve().parents[1] / "bench" / "size_sweep.jsonl"


def sized_config(tmp_path: Path, **overrides: object) -> TrainConfig:
    tmp_path.mkdir(parents=True, exist_ok=True)
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(PHRASE * 40, encoding="utf-8")
    fields = {
        "corpus": str(corpus),
        "checkpoint_dir": str(tmp_path / "ck"),
        "cell": "gru",
        "embed_size": 8,
        "batch_size": 2,
        "seq_len": 8,
        "max_minutes": 10.0,
        "sample_chars": 0,
        "device": "cpu",
        "precision": "fp32",
        "threads": 1,
        **overrides,
    }
    return TrainConfig(**fields)  # type: ignore[arg-type]


def fake_probe(per_width: dict[int, float]):
    calls = []

    def probe(config, vocab_size, train_ids, device, precision, width):
        calls.append(width)
        return per_width[width]

    probe.calls = calls  # type: ignore[attr-defined]
    return probe


def test_the_curves_are_the_sweeps_means_over_its_texts() -> None:
    rows = [json.loads(line) for line in SWEEP.read_text().splitlines() if line.strip()]
    cells: dict[tuple[int, int], dict[str, float]] = defaultdict(dict)
    for r in rows:
        cells[(r["width"], r["steps"])][r["corpus"]] = r["val_nats_per_char"]
    texts = {r["corpus"] for r in rows}
    assert len(texts) >= 3
    complete = {cell: by_text for cell, by_text in cells.items() if set(by_text) == texts}
    ends = defaultdict(int)
    for width, steps in complete:
        ends[width] = max(ends[width], steps)
    means: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for (width, steps), by_text in sorted(complete.items()):
        if steps <= min(ends.values()):  # all curves end together
            means[width].append((steps, sum(by_text.values()) / len(by_text)))
    assert set(sizing.CURVES) == set(means)
    for width, points in means.items():
        assert [n for n, _ in sizing.CURVES[width]] == [n for n, _ in points], width
        for (_, got), (_, want) in zip(sizing.CURVES[width], points, strict=True):
            assert got == pytest.approx(want, abs=5e-5), width


def test_expected_loss_meets_the_grid_and_flattens_beyond_it() -> None:
    for width, points in sizing.CURVES.items():
        for steps, loss in points:
            assert sizing.expected_loss(width, steps) == pytest.approx(loss)
        between = sizing.expected_loss(width, (points[0][0] + points[1][0]) / 2)
        assert points[1][1] < between < points[0][1]
        (n0, l0), (n1, l1), (n2, l2) = points[-3:]
        ratio = (l1 - l2) / (l0 - l1)  # the grid doubles: the last two gains per doubling
        once = sizing.expected_loss(width, 2 * n2)
        assert once == pytest.approx(l2 - ratio * (l1 - l2))  # the next doubling gains `ratio` as much
        twice = sizing.expected_loss(width, 4 * n2)
        assert twice == pytest.approx(once - ratio**2 * (l1 - l2))
        assert sizing.expected_loss(width, 1e9) > l2 - (l1 - l2) * ratio / (1 - ratio)  # bounded


def test_equal_speeds_choose_the_widest_and_a_steep_cost_a_narrow_one() -> None:
    widths = sorted(sizing.CURVES)
    same = sizing.choose_width(dict.fromkeys(widths, 0.1), budget_seconds=600)
    assert same.width == widths[-1]  # at equal steps wider is better: the sweep's first finding
    steep = {w: 1e-6 * w * w for w in widths}  # the widest buys a fifteenth of the narrowest's steps
    short = sizing.choose_width(steep, budget_seconds=20)
    assert short.width == widths[0]
    assert [c.width for c in short.candidates] == widths
    assert all(c.steps == max(1, int(20 * sizing.TRAIN_SHARE / steep[c.width])) for c in short.candidates)


def test_the_probes_fit_every_width_on_a_power_law_per_segment() -> None:
    def seconds(w: int) -> float:  # steeper above 256 than below
        return 1e-3 * w**1.5 if w <= 256 else 1e-3 * 256**1.5 * (w / 256) ** 2

    fitted = sizing.fitted_seconds({w: seconds(w) for w in sizing.PROBED})
    assert set(fitted) == set(sizing.CURVES)
    for w in sizing.CURVES:
        assert fitted[w] == pytest.approx(seconds(w)), w


def test_a_sized_run_records_prints_and_builds_the_chosen_width(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    widths = sorted(sizing.CURVES)
    probe = fake_probe(dict.fromkeys(sizing.PROBED, 0.05))  # equal speeds: the widest
    monkeypatch.setattr(sizing, "probe_seconds", probe)
    run = start_run(sized_config(tmp_path), resume=False, init_from=None, force=False)
    assert probe.calls == list(sizing.PROBED)
    assert run.sizing is not None and run.sizing.width == widths[-1]
    assert run.model.config.hidden_size == widths[-1] == run.config.hidden_size
    assert any(f"--hidden {widths[-1]}" in w and "sized" in w for w in run.warnings)
    # the checkpoint keeps the choice, and its configuration holds the width it trained
    path = tmp_path / "x.pt"
    snapshot(run, None).save(path)
    training = Checkpoint.load(path).training
    assert training is not None and training.sizing == run.sizing
    assert training.config["hidden_size"] == widths[-1]
    # the repeating command names the width
    plan = replace(run.plan, total_steps=500, settled=True, chars_per_sec=1000.0)
    line = describe(plan, 10, 10.0, 16, sized_width=run.sizing.width)
    assert f"--hidden {widths[-1]} --max-steps 500 --max-minutes 0" in line


def test_the_sized_network_is_the_explicit_one_bit_for_bit(tmp_path: Path) -> None:
    """The probes leave the RNG as it was: a sized run starts with the weights `--hidden W` gives."""
    sized_run = start_run(sized_config(tmp_path), resume=False, init_from=None, force=False)
    assert sized_run.sizing is not None
    width = sized_run.sizing.width
    explicit = start_run(
        sized_config(tmp_path / "b", hidden_size=width), resume=False, init_from=None, force=False
    )
    assert explicit.sizing is None
    for (name, a), (_, b) in zip(
        sized_run.model.state_dict().items(), explicit.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


@pytest.mark.parametrize(
    "overrides",
    [
        {"hidden_size": 64},  # explicit options win
        {"max_steps": 5},  # the steps are fixed: the default width
        {"epochs": 1.0},
        {"max_minutes": None, "max_steps": 5},
        {"cell": "lstm"},  # the sweep measured GRUs
    ],
)
def test_no_sizing_where_the_budget_does_not_decide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: dict
) -> None:
    def refuse(*args: object) -> float:
        raise AssertionError("probed")

    monkeypatch.setattr(sizing, "probe_seconds", refuse)
    run = start_run(sized_config(tmp_path, **overrides), resume=False, init_from=None, force=False)
    assert run.sizing is None
    assert run.model.config.hidden_size == overrides.get("hidden_size", 384)
    assert run.config.hidden_size == run.model.config.hidden_size


def test_info_shows_the_sizing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sizing, "probe_seconds", fake_probe({w: 1e-8 * w**3 for w in sizing.PROBED}))
    run = start_run(sized_config(tmp_path), resume=False, init_from=None, force=False)
    path = tmp_path / "x.pt"
    snapshot(run, None).save(path)
    result = invoke("info", "--checkpoint", str(path))
    assert result.exit_code == 0, result.stderr
    assert f"--hidden {run.sizing.width} of" in result.stderr.replace("\n", " ")
    document = json.loads(invoke("info", "--checkpoint", str(path), "--json").stdout)
    assert document["training"]["sizing"]["width"] == run.sizing.width
