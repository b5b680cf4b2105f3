"""Which files a corpus is: the paths a user gives (files, folders, a glob the shell expanded)
turned into one list of files in a stable order, so that the same folder gives the same model.

A file given is taken as it is. A folder gives every file under it, recursively, sorted by its
path within the folder; hidden files and folders (a name starting with ".", e.g. .git/) are
left out, and links to folders are not followed (a folder cannot be read twice through a link).
Each file is taken once, where it first appears. Which of them are text is decided later, as
they are read (corpus.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from charrnn.errors import CorpusError


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def folder_files(folder: Path) -> list[Path]:
    """The files under `folder`, hidden ones left out, sorted by their path within it."""
    found: list[tuple[tuple[str, ...], Path]] = []
    for root, dirs, files in os.walk(folder, onerror=None, followlinks=False):
        dirs[:] = [d for d in dirs if not _is_hidden(d)]
        base = Path(root)
        parts = base.relative_to(folder).parts
        found += [((*parts, name), base / name) for name in files if not _is_hidden(name)]
    return [path for _, path in sorted(found) if path.is_file()]


def corpus_files(sources: Sequence[str | Path]) -> list[Path]:
    """The files that `sources` name, in order (a folder's in sorted order), each once; a
    CorpusError for a path that is not there or a folder without a file."""
    if not sources:
        raise CorpusError("no corpus given: name a text file or a folder of them")
    files: list[Path] = []
    seen: set[Path] = set()
    folders: dict[Path, Path] = {}  # each folder's real path, resolved once for all its files

    def real(path: Path) -> Path:
        if path.is_symlink():
            return path.resolve()
        if path.parent not in folders:
            folders[path.parent] = path.parent.resolve()
        return folders[path.parent] / path.name

    for source in map(Path, sources):
        if source.is_dir():
            found = folder_files(source)
            if not found:
                raise CorpusError(f"corpus folder holds no files (hidden ones are left out): {source}")
        elif source.exists():
            found = [source]
        else:
            raise CorpusError(f"corpus not found: {source}")
        for path in found:
            if (key := real(path)) not in seen:
                seen.add(key)
                files.append(path)
    return files


def describe_sources(sources: Sequence[str]) -> str:
    """The paths given, for people: "poems/", or "a.txt and 2 more"."""
    first = str(sources[0])
    if Path(first).is_dir() and not first.endswith("/"):
        first += "/"
    return first if len(sources) == 1 else f"{first} and {len(sources) - 1} more"


def describe_corpus(sources: Sequence[str], num_files: int) -> str:
    """The paths given and the files read from them: "poems/ (12 files)", or "a.txt"."""
    shown = describe_sources(sources)
    one_file = num_files == 1 and len(sources) == 1 and not shown.endswith("/")
    return shown if one_file else f"{shown} ({num_files} files)"
