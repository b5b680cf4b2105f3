import os
import pickle
from pathlib import Path

import pytest
import torch

from charrnn.data.vocab import Vocabulary
from charrnn.errors import CheckpointError
from charrnn.model.checkpoint import FORMAT_VERSION, load_checkpoint, load_model, save_checkpoint
from charrnn.model.network import CharRNN, ModelConfig


def _payload(model: CharRNN, vocab: Vocabulary) -> dict:
    return {"model_config": model.config.to_dict(), "vocab": vocab.chars, "model_state": model.state_dict()}


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, CharRNN]:
    torch.manual_seed(0)
    vocab = Vocabulary.from_text("abcdef\n")
    model = CharRNN(ModelConfig(vocab_size=vocab.size, cell="gru", hidden_size=8, embed_size=4))
    path = tmp_path / "model.pt"
    save_checkpoint(_payload(model, vocab), path)
    return path, model


def test_round_trip_gives_identical_logits(saved):
    path, model = saved
    loaded = load_model(path, torch.device("cpu"))
    ids = torch.randint(0, 7, (2, 10))
    assert torch.equal(model.eval()(ids)[0], loaded.model.eval()(ids)[0])
    assert loaded.vocab.chars == "\nabcdef"


class _Exploit:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_with_code_is_refused_without_running_it(tmp_path: Path, saved):
    path, model = saved
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({**torch.load(path, weights_only=True), "extra": _Exploit(str(marker))}, evil)
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_checkpoint(evil)
    assert not marker.exists()


def test_plain_pickle_with_code_is_refused(tmp_path: Path):
    marker = tmp_path / "pwned2"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(_Exploit(str(marker))))
    with pytest.raises(CheckpointError):
        load_checkpoint(evil)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "not a readable checkpoint"),
        (os.urandom(300), "not a readable checkpoint"),
        (b"hello, I am text\n" * 10, "not a readable checkpoint"),
    ],
)
def test_garbage_files_are_refused(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_truncated_checkpoint_is_refused(tmp_path: Path, saved):
    path, _ = saved
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        load_model(cut, torch.device("cpu"))


def test_foreign_and_future_checkpoints_are_refused(tmp_path: Path, saved):
    path, _ = saved
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(CheckpointError, match="not a charrnn checkpoint"):
        load_checkpoint(foreign)
    future = tmp_path / "future.pt"
    data = torch.load(path, weights_only=True)
    torch.save({**data, "format_version": FORMAT_VERSION + 1}, future)
    with pytest.raises(CheckpointError, match="upgrade charrnn"):
        load_checkpoint(future)


def test_tensors_that_do_not_match_the_config_are_refused(tmp_path: Path, saved):
    path, _ = saved
    data = torch.load(path, weights_only=True)
    data["model_config"] = {**data["model_config"], "hidden_size": 9}
    bad = tmp_path / "mismatch.pt"
    torch.save(data, bad)
    with pytest.raises(CheckpointError, match="inconsistent"):
        load_model(bad, torch.device("cpu"))


def test_failed_write_keeps_the_previous_checkpoint(tmp_path: Path, saved, monkeypatch):
    path, model = saved
    before = path.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match="No space left"):
        save_checkpoint({"vocab": "x"}, path)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
