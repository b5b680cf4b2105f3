"""The README's promises that a test can hold: two set-up commands, CI runs the test one."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", setup, re.S)
    assert block is not None, "no bash block under ## Set-up"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_readme_has_exactly_two_setup_commands():
    commands = _setup_commands()
    assert len(commands) == 2
    assert commands[0].endswith("charrnn train")


def test_ci_runs_the_readme_test_command():
    test_command = _setup_commands()[1].replace("pip install -e", "pip install -q -e")
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
