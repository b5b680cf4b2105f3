"""A hang is a failure, not a stall: every test has a time limit (pytest-timeout), the slow ones a
longer one, and a test that waits forever fails within its limit, named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SLOW_TIMEOUT


def test_every_test_has_a_time_limit_and_the_slow_ones_a_longer_one(request: pytest.FixtureRequest):
    limit = float(request.config.getini("timeout"))
    assert 0 < limit <= 120
    slow = [item for item in request.session.items if item.get_closest_marker("slow")]
    for item in slow:
        marker = item.get_closest_marker("timeout")
        assert marker is not None and marker.args[0] >= SLOW_TIMEOUT, item.nodeid


def test_a_test_that_waits_forever_fails_in_seconds_with_its_name(tmp_path: Path):
    (tmp_path / "test_hang.py").write_text(
        "import threading\n\ndef test_waits_forever():\n    threading.Event().wait()\n", encoding="utf-8"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=2", "test_hang.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout
    assert "Timeout" in done.stdout and "test_waits_forever" in done.stdout
