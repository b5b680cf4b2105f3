"""The checkpoint schema: what it writes it reads back; older versions are migrated; newer,
foreign, corrupt and code-running files are refused with one clear error."""

import math
import os
import pickle
from pathlib import Path

import pytest
import torch
from conftest import CodeRunningPickle, last_checkpoint

from charrnn.data.corpus import Fingerprint
from charrnn.data.vocab import Vocabulary
from charrnn.errors import CheckpointError
from charrnn.model.checkpoint import VERSION, Checkpoint, load_model
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN
from charrnn.model.records import CorpusRecord, Progress, StepPlan, TrainingRecord, Validation
from charrnn.train.config import TrainConfig


def _checkpoint(training: bool = True) -> Checkpoint:
    torch.manual_seed(0)
    vocab = Vocabulary.from_text("abcdef\n")
    model = CharRNN(ModelConfig(vocab_size=vocab.size, cell="gru", hidden_size=8, embed_size=4))
    record = TrainingRecord(
        config={"corpus": "c.txt", "hidden_size": 8, "eval_every": 5},
        precision="fp32",
        progress=Progress(step=7, epochs_done=1, window=2, chars_seen=700, seconds=1.5, best_val_loss=1.25),
        plans=(
            StepPlan(
                total_steps=30, limited_by="max_minutes", settled=True, chars_per_sec=8e3, measured_at_step=3
            ),
            StepPlan(
                total_steps=20,
                limited_by="max_steps",
                settled=True,
                chars_per_sec=1e4,
                measured_at_step=5,
                eval_every=5,
            ),
        ),
        optimizer={"state": {}, "param_groups": []},
        carried_state=(torch.randn(1, 2, 8),),
        rng={"torch": torch.get_rng_state(), "cuda": []},
        history=(Validation(5, 0.8, 500, 1.0, 1.25, 1.8, 3.5, 99, 1, True),),
    )
    return Checkpoint(
        model_config=model.config,
        vocabulary=vocab,
        weights=model.state_dict(),
        written_by="test",
        corpus=CorpusRecord(("c.txt",), (Fingerprint("c.txt", 10, "ab" * 32),), 10, 0.1),
        training=record if training else None,
    )


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, Checkpoint]:
    checkpoint = _checkpoint()
    path = tmp_path / "model.pt"
    checkpoint.save(path)
    return path, checkpoint


def test_what_is_written_is_read_back(saved):
    path, written = saved
    read = Checkpoint.load(path)
    assert (read.model_config, read.vocabulary, read.written_by, read.corpus) == (
        written.model_config,
        written.vocabulary,
        written.written_by,
        written.corpus,
    )
    assert read.format_version == VERSION
    assert read.training is not None and written.training is not None
    for name in ("config", "precision", "progress", "plans", "plan", "history", "optimizer"):
        assert getattr(read.training, name) == getattr(written.training, name), name
    assert torch.equal(read.training.carried_state[0], written.training.carried_state[0])
    ids = torch.randint(0, 7, (2, 10))
    rebuilt = read.build_model().eval()
    original = CharRNN(written.model_config)
    original.load_state_dict(written.weights)
    assert torch.equal(rebuilt(ids)[0], original.eval()(ids)[0])


def test_a_checkpoint_of_format_version_1_is_migrated(tmp_path: Path):
    """The layout charrnn wrote before the schema: every field at the top level."""
    new = _checkpoint()
    assert new.training is not None and new.corpus is not None
    old = {
        "format": "charrnn-checkpoint",
        "format_version": 1,
        "charrnn_version": "0.1.0",
        "model_config": new.model_config.to_dict(),
        "vocab": new.vocabulary.chars,
        "model_state": new.weights,
        "optimizer_state": new.training.optimizer,
        "train_config": new.training.config,
        "precision": "fp32",
        "progress": {
            "step": 7,
            "epoch": 1,
            "window": 2,
            "chars_seen": 700,
            "seconds": 1.5,
            "best_val_loss": 1.25,
        },
        "carried_state": list(new.training.carried_state),
        "rng": new.training.rng,
        "history": [
            {"event": "val", **Validation(5, 0.8, 500, 1.0, 1.25, 1.8, 3.5, 99, 1, True).to_record()}
        ],
        "corpus": {"path": "c.txt", "size": 10, "sha256": "ab" * 32, "num_chars": 10, "val_frac": 0.1},
    }
    torch.save(old, tmp_path / "v1.pt")
    read = Checkpoint.load(tmp_path / "v1.pt")
    assert read.format_version == 1 and read.written_by == "0.1.0"
    assert read.model_config == new.model_config and read.corpus == new.corpus
    assert read.training is not None
    assert read.training.progress == new.training.progress
    assert read.training.history == new.training.history
    assert read.training.plan is None  # version 1 had no step plan: a resumed run plans anew


def _version_4_corpus(raw: dict) -> dict:
    """The corpus record as versions up to 4 kept it: one file's, flat."""
    corpus = raw["corpus"]
    return {**corpus["files"][0], "num_chars": corpus["num_chars"], "val_frac": corpus["val_frac"]}


def test_a_checkpoint_of_format_version_5_calls_its_validation_segments_streams(saved):
    """Version 5 named a validation's side-by-side segments `val_streams` and the completed epochs
    `progress.epoch`; version 6 `val_segments` and `epochs_done`."""
    path, written = saved
    raw = torch.load(path, weights_only=True)
    raw["format_version"] = 5
    raw["training"]["config"].pop("val_segments", None)
    raw["training"]["config"]["val_streams"] = 7
    for record in raw["training"]["history"]:
        record["val_streams"] = record.pop("val_segments")
    raw["training"]["progress"]["epoch"] = raw["training"]["progress"].pop("epochs_done")
    assert raw["training"]["history"], "the saved run has a validation to migrate"
    torch.save(raw, path)
    read = Checkpoint.load(path)
    assert read.format_version == 5 and read.training is not None and written.training is not None
    assert read.training.history == written.training.history
    assert read.training.config == {**written.training.config, "val_segments": 7}
    assert read.training.progress == written.training.progress and read.training.progress.epochs_done == 1


def test_a_checkpoint_of_format_version_4_names_its_one_file_as_the_corpus_it_was_given(saved):
    """Version 4 trained on one file; version 5 keeps the paths given and every file read."""
    path, written = saved
    raw = torch.load(path, weights_only=True)
    raw["format_version"] = 4
    raw["corpus"] = _version_4_corpus(raw)
    assert raw["training"]["config"]["corpus"] == "c.txt"  # one path, as versions up to 4 kept it
    torch.save(raw, path)
    read = Checkpoint.load(path)
    assert read.format_version == 4 and read.corpus == written.corpus
    assert read.corpus is not None and read.corpus.sources == (raw["corpus"]["path"],)
    assert read.training is not None and TrainConfig.from_record(read.training.config).corpus == ("c.txt",)


def test_a_checkpoint_of_format_version_2_takes_its_validation_cadence_from_its_configuration(saved):
    """Version 2 validated every --eval-every steps of its configuration; version 3's plan says."""
    path, written = saved
    raw = torch.load(path, weights_only=True)
    raw["format_version"] = 2
    raw["corpus"] = _version_4_corpus(raw)
    raw["training"]["plan"] = raw["training"].pop("plans")[-1]
    del raw["training"]["plan"]["eval_every"]
    raw["training"]["config"]["eval_every"] = 1000
    torch.save(raw, path)
    read = Checkpoint.load(path)
    assert read.format_version == 2 and read.training is not None and read.training.plan is not None
    assert read.training.plan.eval_every == 1000
    assert read.training.plan.total_steps == written.training.plan.total_steps


def test_a_checkpoint_of_format_version_3_keeps_its_one_plan_as_the_run_s_only_plan(saved):
    """Version 3 settled one plan per run; version 4 keeps every plan a run has settled."""
    path, written = saved
    raw = torch.load(path, weights_only=True)
    raw["format_version"] = 3
    raw["corpus"] = _version_4_corpus(raw)
    raw["training"]["plan"] = raw["training"].pop("plans")[-1]
    raw["training"]["config"].pop("decay_frac", None)
    torch.save(raw, path)
    read = Checkpoint.load(path)
    assert read.format_version == 3 and read.training is not None
    assert read.training.plans == (written.training.plan,)
    assert read.training.config["decay_frac"] == 1.0  # its schedule decayed from the end of warm-up
    raw["training"]["plan"] = None
    torch.save(raw, path)
    assert Checkpoint.load(path).training.plans == ()


def test_a_progress_record_lacking_a_new_field_takes_its_default_and_an_unknown_field_is_refused(saved):
    path, _ = saved
    raw = torch.load(path, weights_only=True)
    del raw["training"]["progress"]["best_val_loss"]
    torch.save(raw, path)
    assert Checkpoint.load(path).training.progress.best_val_loss == math.inf
    raw["model"]["attention_heads"] = 4
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="unknown fields in its model configuration: attention_heads"):
        Checkpoint.load(path)


def test_checkpoint_with_code_is_refused_without_running_it(tmp_path: Path, saved):
    path, _ = saved
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({**torch.load(path, weights_only=True), "extra": CodeRunningPickle(str(marker))}, evil)
    with pytest.raises(CheckpointError, match="refusing to load"):
        Checkpoint.load(evil)
    assert not marker.exists()


def test_plain_pickle_with_code_is_refused(tmp_path: Path):
    marker = tmp_path / "pwned2"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(CodeRunningPickle(str(marker))))
    with pytest.raises(CheckpointError):
        Checkpoint.load(evil)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", os.urandom(300), b"hello, I am text\n" * 10])
def test_garbage_files_are_refused(tmp_path: Path, content: bytes):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        Checkpoint.load(path)


def test_truncated_checkpoint_is_refused(tmp_path: Path, saved):
    path, _ = saved
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        Checkpoint.load(cut)


def test_foreign_and_future_checkpoints_are_refused(tmp_path: Path, saved):
    path, _ = saved
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(CheckpointError, match="not a charrnn checkpoint"):
        Checkpoint.load(foreign)
    future = tmp_path / "future.pt"
    torch.save({**torch.load(path, weights_only=True), "format_version": VERSION + 1}, future)
    with pytest.raises(
        CheckpointError, match=f"format version {VERSION + 1}; this charrnn reads up to {VERSION}"
    ):
        Checkpoint.load(future)


def test_tensors_that_do_not_match_the_config_are_refused(tmp_path: Path, saved):
    path, _ = saved
    raw = torch.load(path, weights_only=True)
    raw["model"] = {**raw["model"], "hidden_size": 9}
    bad = tmp_path / "mismatch.pt"
    torch.save(raw, bad)
    with pytest.raises(
        CheckpointError, match=r"mismatch.pt is inconsistent: Error\(s\) in loading state_dict"
    ):
        load_model(bad)


def test_failed_write_keeps_the_previous_checkpoint(saved, monkeypatch):
    path, checkpoint = saved
    before = path.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match="No space left"):
        checkpoint.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_a_trained_checkpoint_holds_what_resume_needs(tmp_path: Path, make_config):
    from charrnn.train.loop import train

    config = make_config(max_steps=3, eval_every=3, dropout=0.1)
    train(config)
    read = last_checkpoint(config.checkpoint_dir)
    assert read.training is not None and read.corpus is not None
    assert read.training.progress.step == 3 and [v.step for v in read.training.history] == [3]
    assert read.training.config["max_steps"] == 3 and read.training.precision == "fp32"
    assert read.corpus.sources == config.corpus == (read.corpus.files[0].path,)
    assert read.corpus.val_frac == config.val_frac
