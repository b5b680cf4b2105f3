"""The ways into charrnn: the console script and `python -m charrnn` (which torchrun's workers
run). Each sets glibc's allocator up before PyTorch is imported, and answering --help or
--version imports no PyTorch at all."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer

from charrnn.cli.app import app

# Runs `charrnn ARGS` by the entry named in argv[1], reporting whether the allocator had been set
# up by the time PyTorch was first imported, and whether PyTorch was imported at all.
DRIVER = """
import importlib.abc, runpy, sys

import charrnn.cli.allocator as allocator

calls = []
real = allocator.keep_freed_memory
allocator.keep_freed_memory = lambda: calls.append(1) or real()


class WatchTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torch":
            sys.stderr.write(f"torch imported; allocator set up before: {bool(calls)}\\n")
            sys.meta_path.remove(self)
        return None


sys.meta_path.insert(0, WatchTorch())
entry, sys.argv = sys.argv[1], ["charrnn", *sys.argv[2:]]
try:
    if entry == "console-script":
        from charrnn.cli.entry import main

        main()
    else:
        runpy.run_module("charrnn", run_name="__main__")
finally:
    sys.stderr.write(f"torch loaded: {'torch' in sys.modules}\\n")
"""


def _run(entry: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", DRIVER, entry, *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("entry", ["console-script", "python -m charrnn"])
def test_the_allocator_is_set_up_before_torch_is_imported(entry: str, tmp_path):
    # `info` of a missing file: a command that imports PyTorch, then fails cleanly
    stderr = _run(entry, "info", str(tmp_path / "missing.pt")).stderr
    assert "torch imported; allocator set up before: True" in stderr, stderr
    assert "checkpoint not found" in stderr


@pytest.mark.parametrize("entry", ["console-script", "python -m charrnn"])
@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], *([name, "--help"] for name in typer.main.get_command(app).commands)]
)
def test_help_and_version_import_no_torch(entry: str, args: list[str]):
    done = _run(entry, *args)
    assert done.returncode == 0 and "torch loaded: False" in done.stderr, done.stderr
    shown = done.stdout.split()
    assert shown[:1] == ["charrnn"] if args == ["--version"] else shown[:2] == ["Usage:", "charrnn"], (
        done.stdout
    )
