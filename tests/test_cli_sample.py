"""`charrnn sample` through the CLI: text on stdout only, clear errors, a quiet broken pipe."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error, invoke, train_tiny


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    ck = train_tiny(tmp_path_factory.mktemp("sample"), epochs=1000, embed_size=8, max_steps=30, eval_every=30)
    return ck / "best.pt"


def test_stdout_holds_only_the_text(checkpoint):
    result = invoke(
        "sample", "--checkpoint", str(checkpoint), "--length", "50", "--seed", "3", "--prime", "the"
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("the")
    assert len(result.stdout) == 3 + 50 + (0 if result.stdout[52] == "\n" else 1)
    assert result.stderr == ""


def test_same_seed_same_bytes_and_no_seed_differs(checkpoint):
    args = ["sample", "--checkpoint", str(checkpoint), "--length", "200", "--temperature", "1.5"]
    a = invoke(*args, "--seed", "7").stdout
    assert a == invoke(*args, "--seed", "7").stdout
    assert a != invoke(*args, "--seed", "8").stdout
    assert invoke(*args).stdout != invoke(*args).stdout


def test_prime_file_with_newlines_and_no_echo(checkpoint, tmp_path):
    prime = tmp_path / "prime.txt"
    prime.write_text("the red\ndeer", encoding="utf-8")
    echoed = invoke(
        "sample", "--checkpoint", str(checkpoint), "--prime-file", str(prime), "--length", "5", "--seed", "1"
    )
    assert echoed.exit_code == 0 and echoed.stdout.startswith("the red\ndeer")
    quiet = invoke(
        "sample",
        "--checkpoint",
        str(checkpoint),
        "--prime-file",
        str(prime),
        "--length",
        "5",
        "--seed",
        "1",
        "--no-echo-prime",
    )
    assert quiet.stdout == echoed.stdout[len("the red\ndeer") :]


def test_unknown_prime_characters(checkpoint):
    refused = invoke("sample", "--checkpoint", str(checkpoint), "--prime", "the ÆQ", "--length", "5")
    assert_one_line_error(refused, "'Q', 'Æ'")
    skipped = invoke(
        "sample",
        "--checkpoint",
        str(checkpoint),
        "--prime",
        "the ÆQ",
        "--length",
        "5",
        "--skip-unknown",
        "--seed",
        "1",
    )
    assert skipped.exit_code == 0
    assert skipped.stdout.startswith("the ")
    assert "dropped 2" in skipped.stderr


def test_num_samples_are_separated(checkpoint):
    result = invoke(
        "sample",
        "--checkpoint",
        str(checkpoint),
        "--num-samples",
        "3",
        "--length",
        "20",
        "--seed",
        "1",
        "--prime",
        "the",
    )
    assert result.exit_code == 0
    for k in (1, 2, 3):
        assert f"----- sample {k} of 3 -----" in result.stdout


@pytest.mark.slow
def test_closed_pipe_ends_quietly(checkpoint):
    cmd = (
        f"{sys.executable} -m charrnn sample --checkpoint {checkpoint} --length 100000 --seed 1"
        " | head -c 20; "
        "exit ${PIPESTATUS[0]}"  # charrnn's own exit status, not head's
    )
    done = subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=60)
    assert done.returncode == 0
    assert len(done.stdout) == 20
    assert done.stderr == b"", done.stderr
