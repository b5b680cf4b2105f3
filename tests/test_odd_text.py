"""Odd but valid text trains, samples, measures and scores correctly instead of failing:
emoji (astral and joined), CJK, right-to-left script, combining marks, CRLF line ends, a
byte-order mark, a huge single line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_ARGS, invoke, without

import charrnn
from charrnn.model.checkpoint import Checkpoint

TEXTS = {
    "emoji": "the 🦌 runs 🏃‍♀️ past 👍🏽 deer 🦌🦌\n",
    "cjk": "鹿は走る。赤い鹿が待つ。中文字符。\n",
    "rtl": "الغزال الأحمر يركض\n",
    "combining": "cafe\u0301 nai\u0308ve re\u0301sume\u0301\n",
    "crlf": "the red deer runs;\r\nthe red dear waits.\r\n",
}
REPEATS = 60


def _corpus(tmp_path: Path, name: str) -> tuple[Path, str]:
    """The file on disk and the text a model should see (without a byte-order mark)."""
    if name == "bom":
        text = "the red deer runs; the red dear waits.\n" * REPEATS
        data = b"\xef\xbb\xbf" + text.encode()
    elif name == "huge line":
        text = "the red deer runs and the red dear waits " * 25_000  # ~1 MB, no line end at all
        data = text.encode()
    else:
        text = TEXTS[name] * REPEATS
        data = text.encode()
    path = tmp_path / "corpus.txt"
    path.write_bytes(data)
    return path, text


@pytest.mark.parametrize("name", [*TEXTS, "bom", "huge line"])
def test_valid_odd_text_trains_samples_and_measures(tmp_path: Path, name: str):
    corpus, text = _corpus(tmp_path, name)
    ck = tmp_path / "ck"
    trained = invoke(
        "train",
        str(corpus),
        "--checkpoint-dir",
        str(ck),
        *without(TINY_ARGS, "--max-steps"),
        "--max-steps",
        "3",
    )
    assert trained.exit_code == 0, trained.stderr
    assert trained.stdout == ""
    vocab = Checkpoint.load(ck / "last.pt").vocabulary.chars
    assert vocab == "".join(sorted(set(text)))  # every character, each once; no byte-order mark

    prime = text[:3]
    sampled = invoke(
        "sample", "--checkpoint", str(ck / "last.pt"), "--prime", prime, "--length", "40", "--seed", "1"
    )
    assert sampled.exit_code == 0, sampled.stderr
    assert sampled.stdout.startswith(prime)
    body = sampled.stdout[len(prime) :]
    generated, tail = body[:40], body[40:]  # characters, not bytes: no character was split
    assert tail == ("\n" if not generated.endswith("\n") else "")  # the final newline rule
    assert set(generated) <= set(vocab)

    measured = invoke(
        "perplexity", str(corpus), "--checkpoint", str(ck / "last.pt"), "--json", "--no-baselines"
    )
    assert measured.exit_code == 0, measured.stderr
    row = json.loads(measured.stdout)["texts"][0]
    assert row["chars_read"] == len(text)
    assert row["chars_scored"] == len(text) - 1
    assert row["skipped_unknown"] == 0

    line = text.splitlines()[0][:200] if text.strip() else text
    scored = invoke("score", line, "--context", text[:1], "--checkpoint", str(ck / "last.pt"), "--json")
    assert scored.exit_code == 0, scored.stderr
    candidate = json.loads(scored.stdout)["candidates"][0]
    assert candidate["text"] == line
    expected = charrnn.load(ck / "last.pt").score([line], text[:1])[0].nats  # the library, same input
    assert candidate["log_prob_nats"] == pytest.approx(-expected, rel=1e-9)
