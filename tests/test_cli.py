"""The command line through Typer's CliRunner: bad input gives one clear line and exit 1."""

import json
import math
import re
from pathlib import Path

from conftest import TINY_ARGS, assert_one_line_error, invoke

from charrnn.model.checkpoint import Checkpoint


def test_train_writes_checkpoints_and_nothing_to_stdout(tmp_path: Path, tiny_corpus: Path):
    ck = tmp_path / "ck"
    result = invoke("train", str(tiny_corpus), "--checkpoint-dir", str(ck), *TINY_ARGS)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in ck.iterdir()) == [".train.lock", "best.pt", "last.pt", "metrics.jsonl"]


def test_progress_goes_to_stderr(tmp_path: Path, tiny_corpus: Path):
    args = [a for a in TINY_ARGS if a != "--quiet"]
    result = invoke(
        "train",
        str(tiny_corpus),
        "--checkpoint-dir",
        str(tmp_path / "ck"),
        *args,
        "--eval-every",
        "1",
        "--sample-chars",
        "20",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    pattern = r"^step (\d+): val (\d+\.\d{4}) nats/char, (\d+\.\d{4}) bits/char, "
    pattern += r"perplexity (\d+\.\d\d)( best)?$"
    shown = [m.groups() for m in re.finditer(pattern, result.stderr, re.M)]
    logged = [r for r in map(json.loads, (tmp_path / "ck" / "metrics.jsonl").open()) if r["event"] == "val"]
    assert [int(step) for step, *_ in shown] == [r["step"] for r in logged] == [1, 2]
    for (_, nats, bits, perplexity, _), record in zip(shown, logged, strict=True):
        assert float(nats) == round(record["val_loss"], 4)
        assert float(bits) == round(record["val_loss"] / math.log(2), 4)
        assert float(perplexity) == round(math.exp(record["val_loss"]), 2)


def test_resume_continues_and_a_second_fresh_run_is_refused(tmp_path: Path, tiny_corpus: Path):
    ck = str(tmp_path / "ck")
    assert invoke("train", str(tiny_corpus), "--checkpoint-dir", ck, *TINY_ARGS).exit_code == 0
    again = invoke("train", str(tiny_corpus), "--checkpoint-dir", ck, *TINY_ARGS)
    assert_one_line_error(again, "--resume")
    resumed = invoke("train", "--resume", "--checkpoint-dir", ck, "--max-steps", "4", "--quiet")
    assert resumed.exit_code == 0, resumed.stderr
    assert Checkpoint.load(Path(ck) / "last.pt").training.progress.step == 4  # type: ignore[union-attr]
    records = [json.loads(line) for line in (Path(ck) / "metrics.jsonl").open()]
    assert [r["step"] for r in records] == [2, 4]  # a validation at each end, none logged twice
    refused = invoke("train", "--resume", "--checkpoint-dir", ck, "--hidden", "64", "--quiet")
    assert_one_line_error(refused, "--hidden")


def test_version_matches_the_package_metadata_and_every_command_has_help_with_an_example():
    from importlib.metadata import version

    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"charrnn {version('charrnn')}"
    import typer

    from charrnn.cli.app import app

    commands = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert len(commands) >= 9
    for command in commands:
        shown = invoke(command, "--help")
        assert shown.exit_code == 0, command
        assert f"Example: charrnn {command}" in shown.stdout, command
    assert "--install-completion" in invoke("--help").stdout  # Typer's shell completion
