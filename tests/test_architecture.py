"""The package's shape, as docs/architecture.md draws it: imports point down the floors, nothing
imports the CLI, and rich (terminal output) lives in the CLI alone."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "charrnn"

# Lower floors first; a module may import its own part and any part on a lower floor.
FLOORS = [
    {"errors"},
    {"options", "files"},
    {"runtime"},
    {"data"},
    {"model"},
    {"generate", "measure"},
    {"inspect"},  # inside a model: its page colours surprise as measure reads it
    {"export"},  # sharing a model: its page is the playground inspect's assets make
    {"api", "train"},  # the Python API (charrnn.load) beside training: neither needs the other
    {"serve", "tune"},  # the web playground, on the API; the recipe search, on training
    {"cli"},
    {"__main__"},  # python -m charrnn: the entry, like the console script
]
FLOOR = {part: level for level, parts in enumerate(FLOORS) for part in parts}


def _part(module: str) -> str:
    """The part of charrnn a dotted module name belongs to: "train" for charrnn.train.loop."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "charrnn"


def _imports() -> list[tuple[str, str, str]]:
    """(file, its part, the charrnn part it imports) for every charrnn import in the package."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("charrnn"):
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("charrnn")]
            else:
                continue
            found += [(str(path.relative_to(PACKAGE)), _part(name), _part(t)) for t in targets]
    return found


def test_every_part_of_the_package_is_on_a_floor():
    parts = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()
    }
    assert parts - {"__init__"} == set(FLOOR)


def test_imports_point_down_the_floors_and_nothing_imports_the_cli():
    upward = [
        (file, target)
        for file, part, target in _imports()
        if target != "charrnn" and part in FLOOR and target != part and FLOOR[target] >= FLOOR[part]
    ]
    assert upward == [], upward


def test_rich_is_imported_by_the_cli_alone():
    outside = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] == "cli":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if any(n == "rich" or n.startswith("rich.") for n in names):
                outside.append(str(path.relative_to(PACKAGE)))
    assert outside == []
