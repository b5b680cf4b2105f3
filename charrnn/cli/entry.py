"""The `charrnn` console script and `python -m charrnn`: allocator settings first, then the CLI.

The allocator settings (allocator.py) only work if made before PyTorch is imported, so this
module imports nothing else of charrnn's until they are made.
"""

from __future__ import annotations


def main() -> None:
    from charrnn.cli.allocator import keep_freed_memory

    keep_freed_memory()
    from charrnn.cli.app import app

    app(prog_name="charrnn")
