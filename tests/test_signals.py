"""Ctrl-C and SIGTERM during real training (a subprocess): last.pt saved, exit 130/143, resumable."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli import TINY, without

from charrnn.checkpoint import load_checkpoint


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_last_checkpoint_and_exits(tmp_path: Path, tiny_corpus: Path, sig, code):
    ck = tmp_path / "ck"
    cmd = [
        sys.executable,
        "-m",
        "charrnn",
        "train",
        str(tiny_corpus),
        "--checkpoint-dir",
        str(ck),
        *without(TINY, "--max-steps"),
        "--epochs",
        "100000",
        "--log-every",
        "1",
        "--eval-every",
        "100000",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        metrics = ck / "metrics.jsonl"
        deadline = time.monotonic() + 60
        while not (metrics.exists() and metrics.read_text().count("\n") >= 3):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.05)
        proc.send_signal(sig)
        sent = time.monotonic()
        _, stderr = proc.communicate(timeout=20)
        assert time.monotonic() - sent < 10
    finally:
        proc.kill()
    assert proc.returncode == code, stderr
    assert b"Traceback" not in stderr
    data = load_checkpoint(ck / "last.pt")
    assert data["progress"]["step"] >= 3
    assert [p.name for p in ck.iterdir() if p.name.endswith(".tmp")] == []
