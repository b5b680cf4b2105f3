"""The command line through Typer's CliRunner: bad input gives one clear line and exit 1."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from charrnn.cli import app

runner = CliRunner()

TINY = [
    "--hidden",
    "16",
    "--embed",
    "8",
    "--batch-size",
    "2",
    "--seq-len",
    "8",
    "--max-steps",
    "2",
    "--threads",
    "1",
    "--device",
    "cpu",
    "--precision",
    "fp32",
    "--sample-chars",
    "0",
    "--quiet",
]


def without(args: list[str], *flags: str) -> list[str]:
    """`args` with each of `flags` and its value removed."""
    out = list(args)
    for flag in flags:
        if flag in out:
            i = out.index(flag)
            del out[i : i + 2]
    return out


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def assert_one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make_corpus,fragment",
    [
        (lambda d: d / "missing.txt", "not found"),
        (lambda d: d, "directory"),
        (lambda d: _write(d / "empty.txt", b""), "empty"),
        (lambda d: _write(d / "bom-only.txt", b"\xef\xbb\xbf"), "empty"),
        (lambda d: _write(d / "short.txt", b"hello world\n"), "too short"),
        (lambda d: _write(d / "latin1.txt", "caf\u00e9 ".encode("latin-1") * 100), "byte offset 3"),
        (lambda d: _write(d / "one-char.txt", b"a"), "too short"),
    ],
)
def test_bad_corpus(tmp_path: Path, make_corpus, fragment: str):
    corpus = make_corpus(tmp_path)
    result = invoke("train", str(corpus), "--checkpoint-dir", str(tmp_path / "ck"), *TINY)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "ck" / "last.pt").exists()


@pytest.mark.parametrize(
    "flag,value,fragment",
    [
        ("--hidden", "0", "--hidden must be positive"),
        ("--layers", "-1", "--layers must be positive"),
        ("--embed", "0", "--embed must be positive"),
        ("--batch-size", "0", "--batch-size must be positive"),
        ("--seq-len", "0", "--seq-len must be positive"),
        ("--dropout", "1.0", "--dropout must be in [0, 1)"),
        ("--dropout", "-0.5", "--dropout must be in [0, 1)"),
        ("--val-frac", "0", "--val-frac must be in (0, 1)"),
        ("--val-frac", "1.5", "--val-frac must be in (0, 1)"),
        ("--lr", "-1", "--lr must be positive"),
        ("--grad-clip", "0", "--grad-clip must be positive"),
        ("--epochs", "0", "--epochs must be positive"),
        ("--max-steps", "0", "--max-steps must be positive"),
        ("--max-minutes", "-2", "--max-minutes must be positive"),
        ("--cell", "transformer", "--cell must be one of"),
        ("--device", "tpu", "--device must be one of"),
        ("--precision", "fp8", "--precision must be one of"),
    ],
)
def test_out_of_range_flags(tmp_path: Path, tiny_corpus: Path, flag: str, value: str, fragment: str):
    args = without(TINY, flag)
    result = invoke("train", str(tiny_corpus), "--checkpoint-dir", str(tmp_path / "ck"), *args, flag, value)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "ck" / "last.pt").exists()


def test_non_numeric_flag_is_a_usage_error(tmp_path: Path, tiny_corpus: Path):
    result = invoke("train", str(tiny_corpus), "--hidden", "lots")
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr


def test_unwritable_checkpoint_dir(tmp_path: Path, tiny_corpus: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = invoke("train", str(tiny_corpus), "--checkpoint-dir", str(blocker / "ck"), *TINY)
    assert_one_line_error(result, "cannot write to checkpoint directory")


def test_train_writes_checkpoints_and_nothing_to_stdout(tmp_path: Path, tiny_corpus: Path):
    ck = tmp_path / "ck"
    result = invoke("train", str(tiny_corpus), "--checkpoint-dir", str(ck), *TINY)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in ck.iterdir()) == [".train.lock", "best.pt", "last.pt", "metrics.jsonl"]


def test_progress_goes_to_stderr(tmp_path: Path, tiny_corpus: Path):
    args = [a for a in TINY if a != "--quiet"]
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
    assert invoke("train", str(tiny_corpus), "--checkpoint-dir", ck, *TINY).exit_code == 0
    again = invoke("train", str(tiny_corpus), "--checkpoint-dir", ck, *TINY)
    assert_one_line_error(again, "--resume")
    resumed = invoke("train", "--resume", "--checkpoint-dir", ck, "--max-steps", "4", "--quiet")
    assert resumed.exit_code == 0, resumed.stderr
    refused = invoke("train", "--resume", "--checkpoint-dir", ck, "--hidden", "64", "--quiet")
    assert_one_line_error(refused, "--hidden")


def test_resume_without_a_run(tmp_path: Path):
    result = invoke("train", "--resume", "--checkpoint-dir", str(tmp_path / "none"))
    assert_one_line_error(result, "checkpoint not found")


def test_corrupt_checkpoint_on_resume(tmp_path: Path, tiny_corpus: Path):
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "last.pt").write_bytes(b"garbage" * 100)
    result = invoke("train", str(tiny_corpus), "--resume", "--checkpoint-dir", str(ck), "--quiet")
    assert_one_line_error(result, "not a readable checkpoint")


def test_version_and_help():
    from charrnn import __version__

    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"charrnn {__version__}"
    assert invoke("train", "--help").exit_code == 0
