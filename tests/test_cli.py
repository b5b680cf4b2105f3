"""The command line through Typer's CliRunner: bad input gives one clear line and exit 1."""

from pathlib import Path

from conftest import TINY_ARGS, assert_one_line_error, invoke


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
    assert "val" in result.stderr and "bits/char" in result.stderr


def test_resume_continues_and_a_second_fresh_run_is_refused(tmp_path: Path, tiny_corpus: Path):
    ck = str(tmp_path / "ck")
    assert invoke("train", str(tiny_corpus), "--checkpoint-dir", ck, *TINY_ARGS).exit_code == 0
    again = invoke("train", str(tiny_corpus), "--checkpoint-dir", ck, *TINY_ARGS)
    assert_one_line_error(again, "--resume")
    resumed = invoke("train", "--resume", "--checkpoint-dir", ck, "--max-steps", "4", "--quiet")
    assert resumed.exit_code == 0, resumed.stderr
    refused = invoke("train", "--resume", "--checkpoint-dir", ck, "--hidden", "64", "--quiet")
    assert_one_line_error(refused, "--hidden")


def test_version_matches_the_package_metadata_and_every_command_has_help_with_an_example():
    from importlib.metadata import version

    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"charrnn {version('charrnn')}"
    for command in ("train", "sample", "perplexity", "score", "info", "plot"):
        shown = invoke(command, "--help")
        assert shown.exit_code == 0, command
        assert f"Example: charrnn {command}" in shown.stdout, command
    assert "--install-completion" in invoke("--help").stdout  # Typer's shell completion
