"""`charrnn tune` (tune/): the default first, pruning, the best trial kept and repeatable, a
study resumed after a stop, bad input in one line. Trials use a tiny search space (the real one
is checked against the defaults on its own) and budgets of seconds."""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from conftest import PHRASE, invoke

from charrnn.model.checkpoint import Checkpoint, load_model
from charrnn.model.records import Validation
from charrnn.train.config import TrainConfig
from charrnn.train.observers import Validated
from charrnn.train.signals import StopRequest
from charrnn.tune import space, study
from charrnn.tune.study import TuneConfig, tune


def tiny_suggest(trial: Any) -> dict[str, Any]:
    return {
        "cell": trial.suggest_categorical("cell", ("gru", "lstm")),
        "num_layers": 1,
        "hidden_size": trial.suggest_categorical("hidden", (16, 24)),
        "embed_size": 8,
        "batch_size": 2,
        "seq_len": 8,
        "lr": trial.suggest_float("lr", 1e-3, 2e-2, log=True),
    }


TINY_DEFAULT = {"cell": "gru", "hidden": 24, "lr": 6e-3}


@pytest.fixture
def tiny_space(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(study, "suggest", tiny_suggest)
    monkeypatch.setattr(study, "default_params", lambda: dict(TINY_DEFAULT))
    monkeypatch.setattr(study, "MIN_TRIAL_SECONDS", 1.0)
    # each trial that started counts 10 s of the study's time, whatever the machine's speed:
    # the number of trials a study runs is then known
    monkeypatch.setattr(
        study, "seconds_spent", lambda s, now: 10.0 * sum(t.datetime_start is not None for t in s.trials)
    )


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(PHRASE * 60, encoding="utf-8")
    return path


def tune_config(corpus: Path, tmp_path: Path, minutes: float, refit_minutes: float = 0.0) -> TuneConfig:
    return TuneConfig(
        corpus=(str(corpus),),
        run_dir=str(tmp_path / "tune"),
        minutes=minutes,
        trial_minutes=0.03,
        refit_minutes=refit_minutes,
        threads=1,
        device="cpu",
        precision="fp32",
    )


def test_the_default_recipe_is_the_first_trial_and_the_real_spaces_defaults() -> None:
    recipe = space.suggest(optuna.trial.FixedTrial(space.default_params()))
    defaults = TrainConfig(corpus="c.txt")
    for name, value in recipe.items():
        assert value == getattr(defaults, name), name
    assert {"cell", "num_layers", "hidden_size", "embed_size", "dropout", "weight_decay", "lr"} <= set(recipe)
    assert {"batch_size", "seq_len"} <= set(recipe)


@pytest.mark.slow
def test_a_study_keeps_its_best_trial_and_goes_on_where_it_stopped(
    tiny_space: None, corpus: Path, tmp_path: Path
) -> None:
    first = tune(tune_config(corpus, tmp_path, minutes=0.5))  # 30 s: three trials
    assert len(first.trials) == 3
    assert first.trials[0].params == TINY_DEFAULT  # the default, enqueued first
    complete = [t for t in first.trials if t.state == "COMPLETE"]
    assert first.best is not None and first.best.value == min(t.value for t in complete)
    # the best trial's checkpoint is RUN_DIR/best.pt, and it alone keeps its checkpoints
    assert first.best_checkpoint == str(tmp_path / "tune" / "best.pt")
    best_dir = Path(first.best.checkpoint_dir)
    assert Checkpoint.load(Path(first.best_checkpoint)).weights.keys() == (
        Checkpoint.load(best_dir / "best.pt").weights.keys()
    )
    for t in first.trials:
        assert (Path(t.checkpoint_dir) / "metrics.jsonl").exists()
        assert (Path(t.checkpoint_dir) / "last.pt").exists() == (t.number == first.best.number)
    # the same study again: it goes on (no second default), with the time it has left
    again = tune(tune_config(corpus, tmp_path, minutes=0.75))
    assert len(again.trials) == 5
    assert [t.params for t in again.trials[: len(first.trials)]] == [t.params for t in first.trials]
    assert sum(t.params == TINY_DEFAULT for t in again.trials) == 1
    # the best trial's command line trains its recipe
    command = shlex.split(again.best.command)
    assert command[:2] == ["charrnn", "train"]
    repeat_dir = tmp_path / "repeat"
    args = [*command[1:], "--checkpoint-dir", str(repeat_dir), "--max-steps", "1", "--max-minutes", "0"]
    result = invoke(*args, "--quiet", "--threads", "1")
    assert result.exit_code == 0, result.stderr
    trained = load_model(repeat_dir / "last.pt").checkpoint.training
    best_trained = load_model(Path(again.best.checkpoint_dir) / "last.pt").checkpoint.training
    assert trained is not None and best_trained is not None
    for name in space.FLAGS:
        assert trained.config[name] == best_trained.config[name], name


@pytest.mark.slow
def test_a_stopped_study_fails_its_running_trial_and_resumes(
    tiny_space: None, corpus: Path, tmp_path: Path
) -> None:
    stop = StopRequest()

    class StopAtFirstLog(study.TrainObserver):
        def on_log(self, event: Any) -> None:
            stop.request()

    stopped = tune(tune_config(corpus, tmp_path, minutes=0.05), stop=stop, observers=[StopAtFirstLog()])
    assert stopped.interrupted
    assert [t.state for t in stopped.trials] == ["FAIL"]
    resumed = tune(tune_config(corpus, tmp_path, minutes=0.5))
    assert not resumed.interrupted
    assert resumed.trials[0].state == "FAIL" and len(resumed.trials) == 3
    assert all(t.state in ("COMPLETE", "PRUNED") for t in resumed.trials[1:])


class FakeTrial:
    def __init__(self, prune_from: int) -> None:
        self.number, self.reports, self.prune_from = 7, [], prune_from

    def report(self, value: float, step: int) -> None:
        self.reports.append((step, value))

    def should_prune(self) -> bool:
        return bool(self.reports) and self.reports[-1][0] >= self.prune_from


def validated(seconds: float, loss: float) -> Validated:
    v = Validation(1, 0.1, 10, seconds, loss, loss, 1.0, 10, 1, False)
    return Validated(validation=v, sample="")


def test_reports_go_at_each_tenth_of_the_budget_and_a_pruned_trial_stops() -> None:
    trial, stop = FakeTrial(prune_from=50), StopRequest()
    reporter = study._Reporter(trial, 100.0, stop, lambda text: None)
    for seconds, loss in ((5, 3.0), (9, 2.9), (12, 2.5), (31, 2.2), (33, 2.1)):
        reporter.on_validation(validated(seconds, loss))
    assert trial.reports == [(0, 3.0), (10, 2.5), (30, 2.2)]  # the first validation of each tenth
    assert not stop.requested
    reporter.on_validation(validated(55, 2.0))
    assert stop.requested and reporter.pruned


def test_the_studys_time_is_every_trials_time() -> None:
    start = datetime(2026, 1, 1, 12, 0, 0)
    trials = [
        SimpleNamespace(datetime_start=start, datetime_complete=start + timedelta(seconds=30)),
        SimpleNamespace(datetime_start=start, datetime_complete=None),  # running: until now
        SimpleNamespace(datetime_start=None, datetime_complete=None),  # waiting
    ]
    fake = SimpleNamespace(get_trials=lambda deepcopy: trials)
    assert study.seconds_spent(fake, now=start.timestamp() + 45) == pytest.approx(75)


def test_the_tune_extra_is_named_where_optuna_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(study.ConfigError, match=r"pip install 'charrnn\[tune\]'"):
        study._optuna()


@pytest.mark.slow
def test_the_cli_prints_the_table_the_command_and_json(
    tiny_space: None, corpus: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "t"
    args = [
        "tune",
        str(corpus),
        "--checkpoint-dir",
        str(run_dir),
        "--minutes",
        "0.34",
        "--trial-minutes",
        "0.03",
        "--refit-minutes",
        "0",
    ]
    result = invoke(*args, "--threads", "1", "--precision", "fp32")
    assert result.exit_code == 0, result.stderr
    assert "trials" in result.stderr and "repeat it: charrnn train" in result.stderr
    assert result.stdout == ""  # the table and the progress go to stderr
    document = json.loads(invoke(*args, "--threads", "1", "--json").stdout)
    assert document["best"]["number"] in [t["number"] for t in document["trials"]]
    assert document["best_checkpoint"] == str(run_dir / "best.pt")
    # charrnn plot draws every trial of a tune directory
    plotted = invoke("plot", str(run_dir), "--terminal")
    assert plotted.exit_code == 0, plotted.stderr
    assert "000" in plotted.stderr and "001" in plotted.stderr


def test_tune_config_fields_are_the_clis_options() -> None:
    from charrnn.cli.tune import tune_command

    options = set(tune_command.__annotations__)
    named = {"run_dir": "checkpoint_dir", "study_name": "study"}
    for f in fields(TuneConfig):
        assert named.get(f.name, f.name) in options, f.name


def test_a_recipe_that_cannot_train_fails_its_trial_and_five_in_a_row_end_the_study(
    tiny_space: None, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def too_long(trial: Any) -> dict[str, Any]:
        return {**tiny_suggest(trial), "seq_len": 100_000}

    monkeypatch.setattr(study, "suggest", too_long)
    told: list[str] = []
    with pytest.raises(
        study.ConfigError, match="5 trials in a row could not train; the last: the training text"
    ):
        tune(tune_config(corpus, tmp_path, minutes=1.0), told.append)
    assert sum("failed: the training text" in line for line in told) == 5
    optuna_study = study.open_study(tune_config(corpus, tmp_path, minutes=1.0))
    assert [t.state.name for t in optuna_study.trials] == ["FAIL"] * 5


def test_a_corpus_that_cannot_be_read_is_one_line_before_any_trial(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(study.CharRNNError, match="empty"):
        tune(tune_config(empty, tmp_path, minutes=1.0))
    assert not (tmp_path / "tune").exists()


@pytest.mark.slow
def test_the_refit_trains_the_best_recipe_with_what_is_left(
    tiny_space: None, corpus: Path, tmp_path: Path
) -> None:
    # 21 s of study time, 10 s counted a trial: two search trials, then the refit with the last 1 s
    result = tune(tune_config(corpus, tmp_path, minutes=0.35, refit_minutes=1 / 60))
    search, refit = result.trials[:2], result.trials[2]
    assert len(result.trials) == 3 and not any(t.refit for t in search)
    best_search = min((t for t in search if t.state == "COMPLETE"), key=lambda t: t.value)
    assert refit.refit and refit.state == "COMPLETE" and refit.params == best_search.params
    assert refit.minutes == pytest.approx(1 / 60, rel=1e-6)
    assert result.best is not None and result.best.value == min(
        t.value for t in result.trials if t.value is not None
    )
    # done: the same command again starts nothing
    again = tune(tune_config(corpus, tmp_path, minutes=0.35, refit_minutes=1 / 60))
    assert len(again.trials) == 3


def test_a_refit_longer_than_the_study_is_one_line(corpus: Path) -> None:
    with pytest.raises(study.ConfigError, match=r"--refit-minutes must be in \[0, --minutes\)"):
        TuneConfig(corpus=(str(corpus),), minutes=10, refit_minutes=10)
