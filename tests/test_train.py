from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import PHRASE

from charrnn.errors import CheckpointError, ConfigError, TrainingDiverged, VocabularyError
from charrnn.generate.sampling import sample_text
from charrnn.measure.loss import stream_loss
from charrnn.model.checkpoint import load_checkpoint, load_model
from charrnn.train.loop import train
from charrnn.train.observers import TrainObserver, read_metrics
from charrnn.train.signals import StopRequest
from charrnn.train.start import config_for_resume


class Recorder(TrainObserver):
    def __init__(self, stop: StopRequest | None = None, stop_at: int | None = None) -> None:
        self.logs: list[dict[str, Any]] = []
        self.evals: list[dict[str, Any]] = []
        self.stop, self.stop_at = stop, stop_at

    def on_log(self, record):
        self.logs.append(record)
        if self.stop is not None and record["step"] == self.stop_at:
            self.stop.request()

    def on_eval(self, record, sample):
        self.evals.append(record)


def _weights(checkpoint_dir: str) -> dict[str, torch.Tensor]:
    return load_checkpoint(Path(checkpoint_dir) / "last.pt")["model_state"]


def test_same_seed_gives_the_same_losses(make_config, tmp_path):
    a, b = Recorder(), Recorder()
    train(make_config(checkpoint_dir=str(tmp_path / "a"), dropout=0.2), [a])
    train(make_config(checkpoint_dir=str(tmp_path / "b"), dropout=0.2), [b])
    losses = [r["train_loss"] for r in a.logs]
    assert len(losses) == 12
    assert losses == [r["train_loss"] for r in b.logs]
    c = Recorder()
    train(make_config(checkpoint_dir=str(tmp_path / "c"), dropout=0.2, seed=7), [c])
    assert losses != [r["train_loss"] for r in c.logs]


def test_resume_equals_an_uninterrupted_run(make_config, tmp_path):
    # dropout > 0 so that the RNG state must be restored too; 12 steps cross an epoch boundary
    common = {"dropout": 0.25, "max_steps": 24, "batch_size": 2, "seq_len": 40}
    whole = make_config(checkpoint_dir=str(tmp_path / "whole"), **common)
    result = train(whole)
    assert result.stop_reason == "max_steps" and result.epoch >= 1

    split = make_config(checkpoint_dir=str(tmp_path / "split"), **common)
    stop = StopRequest()
    first = train(split, [Recorder(stop, stop_at=11)], stop=stop)
    assert first.stop_reason == "interrupted" and first.step == 11 and first.exit_code == 130
    second = train(config_for_resume(Path(split.checkpoint_dir), {}), resume=True)
    assert second.step == 24

    w_whole, w_split = _weights(whole.checkpoint_dir), _weights(split.checkpoint_dir)
    assert w_whole.keys() == w_split.keys()
    for name in w_whole:
        assert torch.equal(w_whole[name], w_split[name]), name


def test_tiny_corpus_is_overfitted_until_greedy_sampling_reproduces_it(make_config):
    config = make_config(
        hidden_size=64, lr=1e-2, max_steps=300, eval_every=300, batch_size=4, seq_len=32, warmup_steps=10
    )
    result = train(config)
    assert result.last_val_loss is not None and result.last_val_loss < 0.05
    loaded = load_model(Path(config.checkpoint_dir) / "last.pt", torch.device("cpu"))
    text = sample_text(loaded.model, loaded.vocab, prime="t", length=3 * len(PHRASE) - 1, temperature=0)
    assert "t" + text == PHRASE * 3


def test_validation_reported_matches_a_fresh_evaluation_of_the_checkpoint(make_config):
    rec = Recorder()
    config = make_config(max_steps=6, eval_every=3)
    train(config, [rec])
    assert [r["step"] for r in rec.evals] == [3, 6]
    data = load_checkpoint(Path(config.checkpoint_dir) / "last.pt")
    loaded = load_model(Path(config.checkpoint_dir) / "last.pt", torch.device("cpu"))
    from charrnn.data.corpus import load_corpus, split_train_val

    _, val = split_train_val(load_corpus(Path(config.corpus)).ids, config.val_frac)
    report = stream_loss(loaded.model, val, torch.device("cpu"))
    assert report.nats_per_char == pytest.approx(rec.evals[-1]["val_loss"], rel=1e-6)
    assert data["history"][-1]["val_loss"] == rec.evals[-1]["val_loss"]


def test_metrics_jsonl_has_train_and_val_records(make_config):
    config = make_config(max_steps=4, eval_every=2, log_every=2)
    train(config)
    everything = read_metrics(Path(config.checkpoint_dir) / "metrics.jsonl")
    records = [r for r in everything if r["event"] != "plan"]
    assert [(r["event"], r["step"]) for r in records] == [("train", 2), ("val", 2), ("train", 4), ("val", 4)]
    # the 9.5-minute budget was settled into a plan before the first decayed step (warm-up is
    # steps 0-1, step 2 takes the peak rate whatever the plan): the 4 steps asked for fit it
    (plan,) = [r for r in everything if r["event"] == "plan"]
    assert (plan["step"], plan["total_steps"], plan["limited_by"]) == (3, 4, "max_steps")
    for key in ("epoch", "chars_seen", "seconds", "train_loss", "train_bpc", "lr", "chars_per_sec"):
        assert key in records[0]
    for key in ("val_loss", "val_bpc", "val_perplexity"):
        assert key in records[1]
    assert records[2]["chars_seen"] == 4 * 4 * 16


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(make_config, monkeypatch):
    from charrnn.model.network import CharRNN

    real_forward = CharRNN.forward
    training_calls = {"n": 0}

    def poisoned(self, ids, state=None):
        logits, state = real_forward(self, ids, state)
        if self.training:
            training_calls["n"] += 1
            if training_calls["n"] == 3:
                logits = logits * float("nan")
        return logits, state

    monkeypatch.setattr(CharRNN, "forward", poisoned)
    config = make_config(max_steps=10, eval_every=2)
    with pytest.raises(TrainingDiverged, match="diverged at step 3"):
        train(config)
    for name in ("last.pt", "best.pt"):
        data = load_checkpoint(Path(config.checkpoint_dir) / name)
        assert data["progress"]["step"] == 2
        assert all(torch.isfinite(t).all() for t in data["model_state"].values())


def test_fresh_run_refuses_to_overwrite_a_saved_run(make_config):
    config = make_config(max_steps=2)
    train(config)
    with pytest.raises(CheckpointError, match="--resume"):
        train(config)


def test_resume_refuses_a_different_corpus(make_config, tmp_path):
    config = make_config(max_steps=2)
    train(config)
    other = tmp_path / "other.txt"
    other.write_text(PHRASE * 39 + "the red deer runs; the red dear sits.\n")
    with pytest.raises(CheckpointError, match="differs"):
        train(replace(config, corpus=str(other), max_steps=4), resume=True)


def test_resume_refuses_architecture_changes(make_config):
    config = make_config(max_steps=2)
    train(config)
    with pytest.raises(ConfigError, match="--hidden-size|--hidden"):
        config_for_resume(Path(config.checkpoint_dir), {"hidden_size": 64})
    extended = config_for_resume(Path(config.checkpoint_dir), {"max_steps": 5})
    assert extended.max_steps == 5 and extended.hidden_size == config.hidden_size


def test_init_from_fine_tunes_with_the_checkpoint_vocabulary(make_config, tmp_path):
    base = make_config(max_steps=2)
    train(base)
    new_corpus = tmp_path / "new.txt"
    new_corpus.write_text("the deer waits; the dear runs.\n" * 40)
    tuned = make_config(
        corpus=str(new_corpus), checkpoint_dir=str(tmp_path / "tuned"), hidden_size=999, max_steps=2
    )
    train(tuned, init_from=Path(base.checkpoint_dir) / "last.pt")
    data = load_checkpoint(Path(tuned.checkpoint_dir) / "last.pt")
    assert data["vocab"] == load_checkpoint(Path(base.checkpoint_dir) / "last.pt")["vocab"]
    assert data["model_config"]["hidden_size"] == 32

    foreign = tmp_path / "foreign.txt"
    foreign.write_text("QXZ! " * 200)
    with pytest.raises(VocabularyError, match="'Q'"):
        train(
            replace(tuned, corpus=str(foreign), checkpoint_dir=str(tmp_path / "f")),
            init_from=Path(base.checkpoint_dir) / "last.pt",
        )
