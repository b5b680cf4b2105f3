"""The README's and the reference's promises that a test can hold: two set-up commands, CI runs
the test one, the quick start, the recipes and the exports run (with tiny sizes), every option is documented,
every link between the documents leads somewhere."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

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


def _commands_under(heading: str) -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, f"no bash block under ## {heading}"
    joined = block.group(1).replace("\\\n", " ")
    return [
        line.split("  #")[0].strip()
        for line in joined.splitlines()
        if line.strip() and not line.startswith("#")
    ]


# What the test adds to each `charrnn train` of the README: tiny sizes (a resumed run keeps its own).
TINY_TRAIN = "--hidden 16 --embed 8 --batch-size 2 --seq-len 8 --max-steps 2 --eval-every 2 --sample-chars 0"
TINY_RESUME = "--max-steps 4"


@pytest.mark.slow
def test_the_quick_start_and_the_recipes_run_with_tiny_sizes(tmp_path: Path):
    from conftest import PHRASE

    for name in ("corpora/tinyshakespeare.txt", "my.txt", "big.txt", "my_texts/a.txt", "my_texts/b/c.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(PHRASE * 40, encoding="utf-8")
    programs = {
        "charrnn": [sys.executable, "-m", "charrnn"],
        "torchrun": [sys.executable, "-m", "torch.distributed.run"],
    }
    ran = 0
    sections = ("Quick start", "Recipes", "Share a model")
    for command in [command for section in sections for command in _commands_under(section)]:
        args = shlex.split(command)
        if "cuda" in args and not torch.cuda.is_available():
            continue  # the GPU recipe needs a GPU
        if "train" in args:
            args += shlex.split(TINY_RESUME if "--resume" in args else TINY_TRAIN) + [
                "--threads",
                "1",
                "--quiet",
            ]
        if args[:2] == ["charrnn", "sample"]:
            args += ["--length", "20"]
        done = subprocess.run(
            programs[args[0]] + args[1:], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (command, done.stderr[-2000:])
        ran += 1
    assert ran >= 10


def test_every_option_of_every_command_is_in_the_reference():
    import typer

    from charrnn.cli.app import app

    reference = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    section = reference.split("## Commands and options\n", 1)[1].split("\n## ", 1)[0]
    rows = {
        line.split("`")[1].split()[1]: line for line in section.splitlines() if line.startswith("| `charrnn ")
    }
    for name, command in typer.main.get_command(app).commands.items():
        for param in command.params:
            if param.param_type_name == "argument":
                assert param.name.upper() in rows[name], (name, param.name)
            else:
                flag = "/".join(o for o in param.opts + param.secondary_opts if o.startswith("--"))
                assert f"`{flag}`" in rows[name], (name, flag)


def test_the_readme_is_short_and_every_link_in_the_docs_leads_to_a_file():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+\.md)\)", doc.read_text(encoding="utf-8")):
            assert (doc.parent / target).is_file(), (doc.name, target)
