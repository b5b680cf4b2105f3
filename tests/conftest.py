"""What every test shares: one CPU thread, the tiny corpus, the tiny sizes, the CLI runner, and
the helpers that load a checkpoint or record what training reports.

Tests import the plain helpers from here (`from conftest import PHRASE, invoke`); fixtures are
found by pytest as usual.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner, Result

from charrnn.cli.app import app
from charrnn.model.checkpoint import Checkpoint
from charrnn.train.config import TrainConfig
from charrnn.train.loop import train
from charrnn.train.observers import StepsLogged, TrainObserver, Validated
from charrnn.train.signals import StopRequest

torch.set_num_threads(1)

# The tiny corpus: one line, 40 times (1,560 characters; 18 distinct characters).
PHRASE = "the red deer runs; the red dear waits.\n"

# The tiny run, as TrainConfig fields: trains in well under a second.
# An LSTM, whatever the default cell: the tests of states (h and c) and of what a model learns by
# heart were written for it; the other cells have their own parametrised tests.
TINY: dict[str, Any] = {
    "cell": "lstm",
    "hidden_size": 32,
    "embed_size": 16,
    "batch_size": 4,
    "seq_len": 16,
    "epochs": 100,
    "max_steps": 12,
    "eval_every": 1000,
    "log_every": 1,
    "sample_chars": 0,
    "warmup_steps": 2,
    "lr": 5e-3,
    "dropout": 0.0,  # no regularisation: the tiny runs are meant to learn PHRASE by heart
    "weight_decay": 0.0,
    "device": "cpu",
    "precision": "fp32",
    "threads": 1,
}

# The tiny run, as `charrnn train` options.
TINY_ARGS = [
    *("--cell", "lstm", "--hidden", "16", "--embed", "8", "--batch-size", "2", "--seq-len", "8"),
    *("--max-steps", "2", "--threads", "1", "--device", "cpu", "--precision", "fp32"),
    *("--sample-chars", "0", "--quiet"),
]


# Sizes at which a tiny model learns PHRASE by heart (greedy sampling then reproduces it).
OVERFIT: dict[str, Any] = {
    "hidden_size": 64,
    "seq_len": 32,
    "lr": 1e-2,
    "max_steps": 300,
    "eval_every": 300,
    "warmup_steps": 10,
}


def tiny_config(corpus: Path, checkpoint_dir: Path, **overrides: Any) -> TrainConfig:
    return TrainConfig(corpus=str(corpus), checkpoint_dir=str(checkpoint_dir), **{**TINY, **overrides})


def train_tiny(root: Path, **overrides: Any) -> Path:
    """Train on PHRASE repeated, in `root`; returns the checkpoint directory."""
    corpus = root / "tiny.txt"
    corpus.write_text(PHRASE * 40, encoding="utf-8")
    train(tiny_config(corpus, root / "ck", **overrides))
    return root / "ck"


def last_checkpoint(checkpoint_dir: Path | str) -> Checkpoint:
    return Checkpoint.load(Path(checkpoint_dir) / "last.pt")


class Recorder(TrainObserver):
    """Keeps what training reports; can ask it to stop once step `stop_at` is logged."""

    def __init__(self, stop: StopRequest | None = None, stop_at: int | None = None) -> None:
        self.logs: list[StepsLogged] = []
        self.validations: list[Validated] = []
        self.stop, self.stop_at = stop, stop_at

    @property
    def losses(self) -> list[float]:
        return [event.train_loss for event in self.logs]

    def on_log(self, event: StepsLogged) -> None:
        self.logs.append(event)
        if self.stop is not None and event.step == self.stop_at:
            self.stop.request()

    def on_validation(self, event: Validated) -> None:
        self.validations.append(event)


class CodeRunningPickle:
    """Unpickled, this would run a shell command that creates the file `marker`."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


# -- the command line --------------------------------------------------------------------------
runner = CliRunner()


def invoke(*args: str, input: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=input)


def without(args: list[str], *flags: str) -> list[str]:
    """`args` with each of `flags` and its value removed."""
    out = list(args)
    for flag in flags:
        if flag in out:
            i = out.index(flag)
            del out[i : i + 2]
    return out


def assert_one_line_error(result: Result, fragment: str) -> None:
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""


# -- time limits -------------------------------------------------------------------------------
SLOW_TIMEOUT = 300  # seconds a test marked slow may take; the others, pyproject.toml's `timeout`


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked slow and given no time limit of its own gets SLOW_TIMEOUT."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT))


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
def corpus_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Big-corpus caches made by tests (and their subprocesses) go to a temporary directory."""
    os.environ["CHARRNN_CACHE_DIR"] = str(tmp_path_factory.mktemp("corpus-cache"))


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(PHRASE * 40, encoding="utf-8")
    return path


@pytest.fixture
def make_config(tiny_corpus: Path, tmp_path: Path) -> Callable[..., TrainConfig]:
    def make(**overrides: Any) -> TrainConfig:
        corpus = overrides.pop("corpus", tiny_corpus)
        checkpoint_dir = overrides.pop("checkpoint_dir", tmp_path / "ckpt")
        return tiny_config(Path(corpus), Path(checkpoint_dir), **overrides)

    return make


@pytest.fixture(scope="session")
def overfit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained until it knows PHRASE by heart; its checkpoint directory."""
    return train_tiny(tmp_path_factory.mktemp("overfit"), **OVERFIT, log_every=50)


# Every cell, trained until its guesses are confident (greedy text then has no near-ties).
CONFIDENT = {"num_layers": 2, "hidden_size": 24, "embed_size": 8, "factors": 16, "max_steps": 60, "lr": 1e-2}


@pytest.fixture(scope="session")
def every_cell(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small two-layer model of every cell: its checkpoint directory."""
    from charrnn.model.config import CELLS

    root = tmp_path_factory.mktemp("every-cell")
    for cell in CELLS:
        (root / cell).mkdir()
    return {cell: train_tiny(root / cell, cell=cell, **CONFIDENT) for cell in CELLS}


# -- a real server -----------------------------------------------------------------------------
class Server:
    """`charrnn serve` as its own process, on a free loopback port; its stderr kept as it comes."""

    def __init__(self, checkpoint: Path, *options: str) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "charrnn",
                "serve",
                "--checkpoint",
                str(checkpoint),
                "--port",
                "0",
                *options,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.url = self._wait_for_url()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            self.lines.put(line)

    def _wait_for_url(self, seconds: float = 90) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if found := re.search(r"serving .* at (http://\S+?/) ", line):
                return found.group(1)
        self.process.kill()
        raise AssertionError(f"the server did not start: {''.join(self.stderr)}")

    @property
    def port(self) -> int:
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    def stop(self, sig: int = signal.SIGINT, seconds: float = 15) -> int:
        """Send `sig`; the exit code, once it has exited (killed, and a failure, after `seconds`)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the server did not stop within {seconds} s") from None


@contextlib.contextmanager
def running_server(checkpoint: Path, *options: str) -> Iterator[Server]:
    server = Server(checkpoint, *options)
    try:
        yield server
    finally:
        server.stop()


# -- a real browser (Debian's chromium driven by Playwright; never a download) ------------------
CHROMIUM = os.environ.get("CHARRNN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium; the test skips with one line where it or Playwright is missing."""
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except sync_api.Error as e:
            pytest.skip(f"chromium would not start: {str(e).splitlines()[0]}")
        yield launched
        launched.close()


def keep_screenshot(tab: Any, directory: Path, name: str) -> Path:
    """A screenshot of a browser tab as a test artefact: in `directory`, and copied to
    $CHARRNN_ARTIFACTS when that is set."""
    path = directory / name
    tab.screenshot(path=str(path), full_page=True)
    if artefacts := os.environ.get("CHARRNN_ARTIFACTS"):
        Path(artefacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(artefacts) / name)
    return path
