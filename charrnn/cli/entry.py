"""The `charrnn` console script: allocator settings first, then the CLI (which imports torch)."""

from __future__ import annotations


def main() -> None:
    from charrnn.cli.allocator import keep_freed_memory

    keep_freed_memory()
    from charrnn.cli.app import main as cli_main

    cli_main()
