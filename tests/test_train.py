"""Training: the step (summed loss, clipping, the carried state) and the loop around it
(validation, metrics, divergence, what a run may start from)."""

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import PHRASE, TINY_ARGS, Recorder, invoke, last_checkpoint

import charrnn
from charrnn.data.corpus import load_corpus
from charrnn.errors import CheckpointError, ConfigError, TrainingDiverged
from charrnn.measure.loss import text_loss
from charrnn.model.checkpoint import Checkpoint, load_model
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN
from charrnn.train.loop import train
from charrnn.train.metrics_log import read_metrics
from charrnn.train.observers import TrainObserver
from charrnn.train.run_config import config_for_resume
from charrnn.train.step import train_step


def _tiny_model(cell: str = "lstm") -> CharRNN:
    torch.manual_seed(0)
    return CharRNN(
        ModelConfig(vocab_size=7, cell=cell, num_layers=2, hidden_size=8, embed_size=4, dropout=0.0)
    )


def test_the_step_loss_is_the_mean_cross_entropy_over_every_time_step_of_every_stream():
    model = _tiny_model()
    inputs, targets = torch.randint(0, 7, (3, 6)), torch.randint(0, 7, (3, 6))
    with torch.no_grad():
        logits, _ = model(inputs)
        per_step = [F.cross_entropy(logits[:, t], targets[:, t], reduction="sum") for t in range(6)]
        last_only = F.cross_entropy(logits[:, -1], targets[:, -1])
    sgd = torch.optim.SGD(model.parameters(), lr=0.0)
    result = train_step(
        model, list(model.parameters()), sgd, inputs, targets, None, lr=0.0, grad_clip=1e9, precision="fp32"
    )
    assert result.loss.item() == pytest.approx(float(sum(per_step)) / 18, rel=1e-6)
    assert result.loss.item() != pytest.approx(last_only.item(), rel=1e-3)


def test_a_huge_gradient_is_clipped_to_the_clip_norm():
    model = _tiny_model()
    with torch.no_grad():
        model.head.weight.mul_(1e4)  # logits in the thousands: a gradient norm far above 1
    before = [p.detach().clone() for p in model.parameters()]
    sgd = torch.optim.SGD(model.parameters(), lr=1.0)
    inputs, targets = torch.randint(0, 7, (3, 6)), torch.randint(0, 7, (3, 6))
    result = train_step(
        model, list(model.parameters()), sgd, inputs, targets, None, lr=1.0, grad_clip=0.5, precision="fp32"
    )
    moved = math.sqrt(
        sum(float((p.detach() - b).pow(2).sum()) for p, b in zip(model.parameters(), before, strict=True))
    )
    assert result.grad_norm.item() > 100  # what it was before clipping
    assert moved == pytest.approx(0.5, rel=1e-4)  # SGD at lr 1 moves the weights by the clipped gradient


def test_each_window_starts_from_the_previous_windows_state_detached_and_each_epoch_from_zero(
    make_config, monkeypatch
):
    from charrnn.train import loop

    calls = []

    def recording(*args, **kwargs):
        result = loop_train_step(*args, **kwargs)
        calls.append((args[5], result.state))  # (the state it started from, the state it left)
        return result

    loop_train_step = loop.train_step
    monkeypatch.setattr(loop, "train_step", recording)
    # batch 4 x 40 on the tiny corpus: 9 windows an epoch
    train(make_config(batch_size=4, seq_len=40, max_steps=11))
    assert len(calls) == 11
    assert calls[0][0] is None and calls[9][0] is None  # window 0 of epochs 1 and 2: zero state
    for k in (*range(1, 9), 10):
        started, left_before = calls[k][0], calls[k - 1][1]
        assert started is not None and all(s is t for s, t in zip(started, left_before, strict=True)), k
        assert not any(t.requires_grad for t in started)  # carried without its history


def test_validation_reported_matches_a_fresh_evaluation_of_the_checkpoint(make_config):
    recorder = Recorder()
    config = make_config(max_steps=6, eval_every=3)
    train(config, [recorder])
    assert [v.validation.step for v in recorder.validations] == [3, 6]
    loaded = load_model(Path(config.checkpoint_dir) / "last.pt")
    val = load_corpus(config.corpus, val_frac=config.val_frac).split()[1]
    report = text_loss(loaded.network, val, torch.device("cpu"))
    reported = recorder.validations[-1].validation.val_loss
    assert report.nats_per_char == pytest.approx(reported, rel=1e-6)
    assert loaded.checkpoint.training.history[-1].val_loss == reported


def test_validations_before_the_last_read_warmed_segments_and_the_last_is_exact(make_config, tmp_path):
    recorder = Recorder()
    train(make_config(max_steps=6, eval_every=2), [recorder])
    assert [(v.validation.step, v.validation.val_segments) for v in recorder.validations] == [
        (2, 16),
        (4, 16),
        (6, 1),
    ]
    recorder = Recorder()  # --val-segments K: every validation in K segments, the last too
    train(make_config(max_steps=4, eval_every=2, val_segments=3, checkpoint_dir=tmp_path / "k3"), [recorder])
    assert [v.validation.val_segments for v in recorder.validations] == [3, 3]
    old_name = invoke(  # --val-streams, the old name, sets the same
        "train",
        str(make_config().corpus[0]),
        "--checkpoint-dir",
        str(tmp_path / "old"),
        *TINY_ARGS,
        "--eval-every",
        "2",
        "--max-steps",
        "4",
        "--val-streams",
        "3",
    )
    assert old_name.exit_code == 0, old_name.stderr
    assert [v.val_segments for v in last_checkpoint(tmp_path / "old").training.history] == [3, 3]


def test_metrics_jsonl_has_train_validation_and_plan_records(make_config):
    config = make_config(max_steps=4, eval_every=2, log_every=2)
    train(config)
    everything = read_metrics(Path(config.checkpoint_dir) / "metrics.jsonl")
    records = [r for r in everything if r["event"] != "plan"]
    assert [(r["event"], r["step"]) for r in records] == [("train", 2), ("val", 2), ("train", 4), ("val", 4)]
    # the 9.5-minute budget was settled into a plan before the first decayed step (warm-up is
    # steps 0-1, the decay's first step takes the peak rate whatever the plan): the 4 steps fit it
    (plan,) = [r for r in everything if r["event"] == "plan"]
    first_decayed = config.schedule.decay_start(4) + 1
    assert (plan["step"], plan["total_steps"], plan["limited_by"]) == (first_decayed, 4, "max_steps")
    for key in ("epoch", "chars_seen", "seconds", "train_loss", "train_bpc", "lr", "chars_per_sec"):
        assert key in records[0]
    logged, validated = records[0], records[1]
    assert logged["train_bpc"] == pytest.approx(logged["train_loss"] / math.log(2), rel=1e-9)
    assert validated["val_bpc"] == pytest.approx(validated["val_loss"] / math.log(2), rel=1e-9)
    assert validated["val_perplexity"] == pytest.approx(math.exp(validated["val_loss"]), rel=1e-9)
    assert records[2]["chars_seen"] == 4 * 4 * 16


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(make_config, monkeypatch):
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
        saved = Checkpoint.load(Path(config.checkpoint_dir) / name)
        assert saved.training.progress.step == 2
        assert all(torch.isfinite(t).all() for t in saved.weights.values())


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
    with pytest.raises(ConfigError, match="^--hidden cannot change on --resume"):
        config_for_resume(Path(config.checkpoint_dir), {"hidden_size": 64})
    extended = config_for_resume(Path(config.checkpoint_dir), {"max_steps": 5})
    assert extended.max_steps == 5 and extended.hidden_size == config.hidden_size


def test_a_moved_run_directory_resumes_where_it_now_is(make_config, tmp_path):
    config = make_config(max_steps=2, checkpoint_dir=tmp_path / "before")
    train(config)
    moved = tmp_path / "after"
    (tmp_path / "before").rename(moved)
    resumed = config_for_resume(moved, {"checkpoint_dir": str(moved), "max_steps": 4})
    assert resumed.checkpoint_dir == str(moved)
    result = train(resumed, resume=True)
    assert result.step == 4 and not (tmp_path / "before").exists()
    assert last_checkpoint(moved).training.progress.step == 4


def test_init_from_fine_tunes_with_the_checkpoint_vocabulary_and_architecture(make_config, tmp_path):
    base = make_config(max_steps=2)
    train(base)
    new_corpus = tmp_path / "new.txt"
    new_corpus.write_text("the deer waits; the dear runs.\n" * 40)
    tuned = make_config(
        corpus=str(new_corpus), checkpoint_dir=str(tmp_path / "tuned"), hidden_size=999, max_steps=2
    )
    train(tuned, init_from=Path(base.checkpoint_dir))  # a run directory: its best.pt, else last.pt
    saved = last_checkpoint(tuned.checkpoint_dir)
    assert saved.vocabulary == last_checkpoint(base.checkpoint_dir).vocabulary
    assert saved.model_config.hidden_size == 32


def test_fine_tuning_on_new_characters_grows_the_vocabulary_keeping_the_old_ids(make_config, tmp_path):
    base = make_config(max_steps=2)
    train(base)
    old = last_checkpoint(base.checkpoint_dir)
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("Zoë's deer: QXZ! the dear runs. " * 60)
    messages: list[str] = []

    class Told(TrainObserver):
        def on_message(self, text: str) -> None:
            messages.append(text)

    tuned = replace(base, corpus=str(foreign), checkpoint_dir=str(tmp_path / "grown"), max_steps=3)
    train(tuned, [Told()], init_from=Path(base.checkpoint_dir) / "last.pt")
    saved = last_checkpoint(tuned.checkpoint_dir)
    added = "".join(sorted(set("Zoë's deer: QXZ! the dear runs. ") - set(old.vocabulary.chars)))
    assert added and saved.vocabulary.chars == old.vocabulary.chars + added  # the old ids kept
    assert any("the vocabulary grew by" in m and repr(added[0]) in m for m in messages)
    # the grown model samples and scores the new characters like any other
    model = charrnn.load(Path(tuned.checkpoint_dir) / "last.pt")
    ranked = model.score(["QXZ! the deer", "the deer"])
    assert {r.text for r in ranked} == {"QXZ! the deer", "the deer"}
    assert all(math.isfinite(r.nats) for r in ranked)
    assert len(model.sample(50, temperature=1.5, seed=3)) == 50

    with pytest.raises(CheckpointError, match="or fine-tune with --init-from"):  # resuming does not grow
        train(replace(base, corpus=str(foreign)), resume=True)  # the other corpus is the news
