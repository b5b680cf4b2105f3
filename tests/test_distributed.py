"""Data-parallel training with torchrun on loopback (gloo, CPU), against one process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY_ARGS, invoke, without

from charrnn.model.checkpoint import Checkpoint

TIMEOUT = 120
# batch 4 × 16; two processes get two streams each. No dropout: each process draws its masks
# for its own streams, so with dropout two processes train like one only in distribution.
ARGS = [
    *without(TINY_ARGS, "--max-steps", "--quiet"),
    "--dropout",
    "0",
    "--batch-size",
    "4",
    "--seq-len",
    "16",
    "--log-every",
    "1",
]


def _torchrun(*args: str, program: tuple[str, ...] = ("-m", "charrnn")) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        *program,
        *args,
    ]


def _records(ck: Path, event: str) -> list[dict]:
    return [
        r for r in map(json.loads, (ck / "metrics.jsonl").read_text().splitlines()) if r["event"] == event
    ]


@pytest.mark.slow
def test_two_processes_train_like_one_and_their_checkpoint_resumes_in_one(tmp_path: Path, tiny_corpus: Path):
    one, two = tmp_path / "one", tmp_path / "two"
    common = ["train", str(tiny_corpus), *ARGS, "--max-steps", "6", "--eval-every", "3"]
    assert invoke(*common, "--checkpoint-dir", str(one), "--quiet").exit_code == 0
    done = subprocess.run(
        _torchrun(*common, "--checkpoint-dir", str(two)), capture_output=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]

    for event, key in (("train", "train_loss"), ("val", "val_loss")):
        a, b = _records(one, event), _records(two, event)
        assert [r["step"] for r in a] == [r["step"] for r in b] and len(a) >= 2
        assert [r["chars_seen"] for r in a] == [r["chars_seen"] for r in b]
        for x, y in zip(a, b, strict=True):
            assert y[key] == pytest.approx(x[key], rel=1e-5), event
    w1, w2 = (Checkpoint.load(ck / "last.pt") for ck in (one, two))
    for name, tensor in w1.weights.items():
        assert torch.allclose(tensor, w2.weights[name], atol=1e-5), name
    for a, b in zip(w1.training.carried_state, w2.training.carried_state, strict=True):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5)  # all four streams saved

    resumed = invoke("train", "--resume", "--checkpoint-dir", str(two), "--max-steps", "8", "--quiet")
    assert resumed.exit_code == 0, resumed.stderr
    assert Checkpoint.load(two / "last.pt").training.progress.step == 8


WORKER = """
import os, sys
from charrnn.train.loop import train
from charrnn.train.config import TrainConfig

train(TrainConfig(corpus=sys.argv[1], checkpoint_dir=sys.argv[2], hidden_size=16, embed_size=8, batch_size=4,
                  seq_len=8, max_steps=2, eval_every=2, sample_chars=0, threads=1, device="cpu"))
threads = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
left = [name for name in threads if "gloo" in name]
sys.exit(f"rank {os.environ['RANK']}: process-group threads outlive training: {left}" if left else 0)
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads thread names from Linux's /proc")
def test_training_ends_its_process_group_before_the_process_exits(tmp_path: Path, tiny_corpus: Path):
    """A group left alive is torn down during interpreter exit, racing the other rank's exit: now
    and then a worker aborted (SIGABRT, "terminate called without an active exception")."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    command = _torchrun(str(tiny_corpus), str(tmp_path / "ck"), program=(str(script),))
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_a_killed_rank_ends_the_whole_job(tmp_path: Path, tiny_corpus: Path):
    ck = tmp_path / "ck"
    cmd = _torchrun("train", str(tiny_corpus), *ARGS, "--epochs", "100000", "--checkpoint-dir", str(ck))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not ((ck / "metrics.jsonl").exists() and len(_records(ck, "train")) >= 3):
            assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.05)
        workers = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(workers) == 2, workers
        os.kill(int(workers[1]), signal.SIGKILL)
        killed = time.monotonic()
        proc.wait(timeout=90)
        assert time.monotonic() - killed < 90
    finally:
        with contextlib.suppress(ProcessLookupError):  # torchrun and any worker it left behind
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=TIMEOUT)
    assert proc.returncode != 0
