"""Faults during training: signals, kill -9 (even mid-write), failing writes, divergence, two runs.

Each fault is real where it can be (signals, SIGKILL, a kernel file-size limit) and simulated
where it cannot (a full disk, a lost permission). Every subprocess is bounded in time.
"""

from __future__ import annotations

import errno
import os
import random
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import TINY_ARGS, assert_one_line_error, invoke, without

from charrnn.model.checkpoint import Checkpoint
from charrnn.train.metrics_log import read_metrics
from charrnn.train.run_dir import LOCK_NAME

# Tiny training that runs until stopped: saves every `--eval-every` steps, logs every step.
ENDLESS = [*without(TINY_ARGS, "--max-steps", "--quiet"), "--epochs", "100000", "--log-every", "1"]
TIMEOUT = 60


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "charrnn", "train", *args]


def _start(args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, **kwargs)


def _wait_for(proc: subprocess.Popen, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "exited early")
        assert time.monotonic() < deadline, "training did not get going"
        time.sleep(0.02)


def _logged_steps(ck: Path) -> int:
    metrics = ck / "metrics.jsonl"
    return metrics.read_text().count("\n") if metrics.exists() else 0


def _temp_files(ck: Path) -> list[str]:
    return sorted(p.name for p in ck.iterdir() if p.name.endswith(".tmp"))


def _assert_good_checkpoint(path: Path) -> int:
    """`path` loads, its weights are finite; its step."""
    data = Checkpoint.load(path)
    assert all(torch.isfinite(t).all() for t in data.weights.values())
    return int(data.training.progress.step)


def _assert_metrics_continuous(ck: Path) -> None:
    """One train record per step, in order: a resumed run does not log a step twice."""
    steps = [r["step"] for r in read_metrics(ck / "metrics.jsonl") if r["event"] == "train"]
    assert steps == list(range(1, len(steps) + 1)), steps


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_last_checkpoint_exits_and_resumes(tmp_path: Path, tiny_corpus: Path, sig, code):
    ck = tmp_path / "ck"
    proc = _start(_command(str(tiny_corpus), "--checkpoint-dir", str(ck), *ENDLESS, "--eval-every", "100000"))
    try:
        _wait_for(proc, lambda: _logged_steps(ck) >= 3)
        proc.send_signal(sig)
        sent = time.monotonic()
        _, stderr = proc.communicate(timeout=20)
        assert time.monotonic() - sent < 10
    finally:
        proc.kill()
    assert proc.returncode == code, stderr
    assert b"Traceback" not in stderr
    assert b"interrupted at step" in stderr
    step = _assert_good_checkpoint(ck / "last.pt")
    assert step >= 3
    assert _temp_files(ck) == []

    resumed = invoke(
        "train", "--resume", "--checkpoint-dir", str(ck), "--max-steps", str(step + 2), "--quiet"
    )
    assert resumed.exit_code == 0, resumed.stderr
    assert Checkpoint.load(ck / "last.pt").training.progress.step == step + 2
    _assert_metrics_continuous(ck)


# Run as a subprocess: training whose third torch.save writes half the checkpoint's bytes to the
# temporary file and then SIGKILLs its own process, i.e. a kill -9 in the middle of a write.
DIE_MID_WRITE = """
import io, os, signal, sys
import torch
real_save, calls = torch.save, [0]
def dying_save(obj, f, *args, **kwargs):
    calls[0] += 1
    if calls[0] < 3:
        return real_save(obj, f, *args, **kwargs)
    buffer = io.BytesIO()
    real_save(obj, buffer)
    f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
torch.save = dying_save
from charrnn.cli.entry import main
sys.argv = ["charrnn", "train", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
def test_kill_in_the_middle_of_a_checkpoint_write(tmp_path: Path, tiny_corpus: Path):
    ck = tmp_path / "ck"
    args = [str(tiny_corpus), "--checkpoint-dir", str(ck), *ENDLESS, "--eval-every", "2"]
    proc = subprocess.run([sys.executable, "-c", DIE_MID_WRITE, *args], capture_output=True, timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    # Saves 1 and 2 were last.pt and best.pt at step 2; save 3, last.pt at step 4, died half-written.
    assert len(_temp_files(ck)) == 1
    assert _assert_good_checkpoint(ck / "last.pt") == 2
    assert _assert_good_checkpoint(ck / "best.pt") == 2
    assert max(r["step"] for r in read_metrics(ck / "metrics.jsonl")) == 4  # logged past the checkpoint

    resumed = invoke("train", "--resume", "--checkpoint-dir", str(ck), "--max-steps", "6")
    assert resumed.exit_code == 0, resumed.stderr
    assert "removed 1 unfinished write" in resumed.stderr
    assert _temp_files(ck) == []
    assert _assert_good_checkpoint(ck / "last.pt") == 6
    _assert_metrics_continuous(ck)


@pytest.mark.slow
def test_kill_9_at_random_moments_never_costs_more_than_the_last_checkpoint(
    tmp_path: Path, tiny_corpus: Path
):
    ck = tmp_path / "ck"
    rng = random.Random(5)
    saved_step = 0
    for round_ in range(5):
        resume = ["--resume"] if (ck / "last.pt").exists() else [str(tiny_corpus), *ENDLESS]
        # Saving at every step makes most moments fall inside or between checkpoint writes.
        proc = _start(_command(*resume, "--checkpoint-dir", str(ck), "--eval-every", "1"))
        try:
            _wait_for(proc, lambda: _logged_steps(ck) > saved_step)  # noqa: B023
            time.sleep(rng.uniform(0.0, 0.5))
        finally:
            proc.kill()
            proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == -signal.SIGKILL, f"round {round_} ended by itself"
        step = _assert_good_checkpoint(ck / "last.pt")
        assert step >= saved_step
        saved_step = step
    final = invoke("train", "--resume", "--checkpoint-dir", str(ck), "--max-steps", str(saved_step + 3))
    assert final.exit_code == 0, final.stderr
    assert _assert_good_checkpoint(ck / "last.pt") == saved_step + 3
    assert _temp_files(ck) == []
    _assert_metrics_continuous(ck)


def _failing_after(calls: int, error: OSError, real: Callable) -> Callable:
    count = [0]

    def fail(*args, **kwargs):
        count[0] += 1
        if count[0] > calls:
            raise error
        return real(*args, **kwargs)

    return fail


@pytest.mark.parametrize(
    "target,error,fragment",
    [
        ("fsync", OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
        ("replace", PermissionError(errno.EACCES, "Permission denied"), "Permission denied"),
    ],
)
def test_a_failing_checkpoint_write_keeps_the_previous_one(
    tmp_path: Path, tiny_corpus: Path, monkeypatch, target: str, error: OSError, fragment: str
):
    ck = tmp_path / "ck"
    # last.pt and best.pt at step 2 are written (2 calls); the write at step 4 fails.
    monkeypatch.setattr(os, target, _failing_after(2, error, getattr(os, target)))
    result = invoke(
        "train", str(tiny_corpus), "--checkpoint-dir", str(ck), *without(TINY_ARGS, "--max-steps"),
        "--max-steps", "8", "--eval-every", "2",
    )  # fmt: skip
    monkeypatch.undo()
    assert_one_line_error(result, fragment)
    assert f"could not write checkpoint {ck / 'last.pt'}" in result.stderr
    assert _assert_good_checkpoint(ck / "last.pt") == 2
    assert _temp_files(ck) == []


@pytest.mark.slow
def test_a_real_file_size_limit_while_saving_keeps_the_previous_checkpoint(tmp_path: Path, tiny_corpus: Path):
    ck = tmp_path / "ck"
    first = invoke("train", str(tiny_corpus), "--checkpoint-dir", str(ck), *TINY_ARGS)
    assert first.exit_code == 0, first.stderr
    before = (ck / "last.pt").read_bytes()
    limit = len(before) // 2  # the kernel refuses to grow any file past this (EFBIG)

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        _command("--resume", "--checkpoint-dir", str(ck), "--max-steps", "4", "--quiet"),
        capture_output=True,
        timeout=TIMEOUT,
        preexec_fn=small_files,
    )
    stderr = proc.stderr.decode()
    assert proc.returncode == 1, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert "could not write checkpoint" in stderr and "File too large" in stderr
    assert (ck / "last.pt").read_bytes() == before
    assert _temp_files(ck) == []


def test_exploding_loss_stops_training_and_keeps_the_last_good_checkpoint(make_config, monkeypatch):
    from charrnn.errors import TrainingDiverged
    from charrnn.model.network import CharRNN
    from charrnn.train.loop import train

    real_forward = CharRNN.forward
    calls = [0]

    def exploding(self, ids, state=None):
        logits, state = real_forward(self, ids, state)
        if self.training:
            calls[0] += 1
            if calls[0] == 3:
                logits = logits * 1e6  # finite, but far worse than knowing nothing
        return logits, state

    monkeypatch.setattr(CharRNN, "forward", exploding)
    config = make_config(max_steps=10, eval_every=2)
    with pytest.raises(TrainingDiverged, match=r"diverged at step 3: the loss was \S+e\+0\d nats/char"):
        train(config)
    for name in ("last.pt", "best.pt"):
        assert _assert_good_checkpoint(Path(config.checkpoint_dir) / name) == 2


def test_an_absurd_learning_rate_is_stopped_with_the_step_named(tmp_path: Path, tiny_corpus: Path):
    ck = tmp_path / "ck"
    args = [*without(TINY_ARGS, "--max-steps"), "--max-steps", "20", "--eval-every", "2", "--log-every", "1"]
    result = invoke("train", str(tiny_corpus), "--checkpoint-dir", str(ck), *args, "--lr", "1e30")
    assert_one_line_error(result, "training diverged at step 2")
    assert "no checkpoint had been saved yet" in result.stderr
    assert not list(ck.glob("*.pt")) and _temp_files(ck) == []


def _hold_lock(ck: Path) -> subprocess.Popen:
    """Another process holding CHECKPOINT_DIR's lock, as a running training does."""
    ck.mkdir(parents=True, exist_ok=True)
    code = (
        "import sys, time, filelock\n"
        f"lock = filelock.FileLock({str(ck / LOCK_NAME)!r}, timeout=0); lock.acquire()\n"
        f"open({str(ck / LOCK_NAME)!r}, 'w').write('pid 4242 on elsewhere since then')\n"
        "print('held', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"held"
    return proc


def test_a_second_training_in_the_same_directory_is_refused_unless_forced(tmp_path: Path, tiny_corpus: Path):
    ck = tmp_path / "ck"
    holder = _hold_lock(ck)
    try:
        refused = invoke("train", str(tiny_corpus), "--checkpoint-dir", str(ck), *TINY_ARGS)
        assert_one_line_error(refused, "is in use by another training (pid 4242 on elsewhere since then)")
        assert "--force" in refused.stderr
        assert not (ck / "metrics.jsonl").exists()
        forced = invoke(
            "train", str(tiny_corpus), "--checkpoint-dir", str(ck), *without(TINY_ARGS, "--quiet"), "--force"
        )
        assert forced.exit_code == 0, forced.stderr
        assert "continuing (--force)" in forced.stderr
    finally:
        holder.kill()
        holder.wait(timeout=TIMEOUT)


@pytest.mark.slow
def test_a_running_training_holds_its_directory_until_it_is_killed(tmp_path: Path, tiny_corpus: Path):
    ck = tmp_path / "ck"
    proc = _start(_command(str(tiny_corpus), "--checkpoint-dir", str(ck), *ENDLESS, "--eval-every", "2"))
    try:
        _wait_for(proc, lambda: (ck / "last.pt").exists())
        refused = invoke("train", "--resume", "--checkpoint-dir", str(ck), "--quiet")
        assert_one_line_error(refused, f"is in use by another training (pid {proc.pid} on ")
    finally:
        proc.kill()  # kill -9: the lock file stays behind, the lock itself dies with the process
        proc.communicate(timeout=TIMEOUT)
    assert (ck / LOCK_NAME).exists()
    step = _assert_good_checkpoint(ck / "last.pt")
    resumed = invoke(
        "train", "--resume", "--checkpoint-dir", str(ck), "--max-steps", str(step + 1), "--quiet"
    )
    assert resumed.exit_code == 0, resumed.stderr
    assert _assert_good_checkpoint(ck / "last.pt") == step + 1


@pytest.mark.parametrize("max_steps", [10, 2])  # mid-run validation, and the final one
def test_a_stop_during_validation_abandons_it_and_saves_at_once(make_config, monkeypatch, max_steps: int):
    import charrnn.train.validation as validation
    from charrnn.train.loop import train
    from charrnn.train.signals import StopRequest

    stop = StopRequest()
    real_stream_loss = validation.text_loss

    def signal_arrives_now(*args, **kwargs):
        stop.request(signal.SIGTERM)  # as if SIGTERM came while validation was starting
        return real_stream_loss(*args, **kwargs)

    monkeypatch.setattr(validation, "text_loss", signal_arrives_now)
    config = make_config(max_steps=max_steps, eval_every=2)
    result = train(config, stop=stop)
    assert (result.stop_reason, result.exit_code, result.step) == ("interrupted", 143, 2)
    data = Checkpoint.load(Path(config.checkpoint_dir) / "last.pt")
    assert data.training.progress.step == 2
    assert data.training.history == ()  # abandoned, not half-reported
