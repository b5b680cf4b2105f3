"""`charrnn.load()` and `charrnn.Model`: the Python API, which the commands call. Each figure it
gives is the one the matching command prints, the same seed gives the same text, and every
mistake is one of charrnn's own exceptions with the command's message."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import PHRASE, invoke, tiny_config

import charrnn
from charrnn.errors import CharRNNError, CheckpointError, ConfigError, VocabularyError
from charrnn.generate.sampling import SampleConfig
from charrnn.train.loop import train

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model(overfit_dir: Path) -> charrnn.Model:
    return charrnn.load(overfit_dir / "best.pt")


def _printed(text: str) -> str:
    """What `charrnn sample --no-echo-prime` prints for a sample `text` (it ends on a new line)."""
    return text if text.endswith("\n") else text + "\n"


def test_import_charrnn_imports_no_torch_until_load_is_called():
    code = (
        "import sys, charrnn; assert 'torch' not in sys.modules, 'import charrnn'; "
        "charrnn.load; assert 'torch' not in sys.modules, 'charrnn.load'; "
        "charrnn.Model; assert 'torch' in sys.modules; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr


def test_load_takes_a_file_or_a_run_directory(overfit_dir: Path, model: charrnn.Model):
    assert charrnn.load(overfit_dir).path == overfit_dir / "best.pt"
    assert model.vocabulary == "".join(sorted(set(PHRASE)))
    assert isinstance(model, charrnn.Model)
    assert re.fullmatch(r"<charrnn.Model 2×64 lstm, 15 characters, from .*best\.pt, on cpu>", repr(model))


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda tmp: charrnn.load(tmp / "missing.pt"), CheckpointError, "checkpoint not found"),
        (lambda tmp: charrnn.load(tmp), CheckpointError, "no checkpoint in"),
        (lambda tmp: charrnn.load(_text_file(tmp)), CheckpointError, "not a readable checkpoint"),
    ],
    ids=["missing file", "directory without a checkpoint", "not a checkpoint"],
)
def test_load_refuses_what_is_not_a_checkpoint(call, error, fragment, tmp_path: Path):
    with pytest.raises(error, match=fragment):
        call(tmp_path)


def _text_file(tmp: Path) -> Path:
    path = tmp / "notes.pt"
    path.write_text("not a model\n" * 50)
    return path


def test_load_refuses_an_unknown_device(overfit_dir: Path):
    with pytest.raises(ConfigError, match="--device must be one of"):
        charrnn.load(overfit_dir, device="tpu")


@pytest.mark.parametrize(
    "options",
    [
        {"temperature": 1.0},
        {"temperature": 0.9, "top_k": 3},
        {"temperature": 1.2, "top_p": 0.8},
        {"temperature": 0.0},
    ],
    ids=["plain", "top-k", "top-p", "greedy"],
)
def test_the_same_seed_gives_the_text_charrnn_sample_prints(model: charrnn.Model, options: dict):
    text = model.sample(length=120, prime="the r", seed=11, **options)
    flags = [f"--{name.replace('_', '-')}={value}" for name, value in options.items()]
    printed = invoke(
        "sample", "--checkpoint", str(model.path), "--length", "120", "--prime", "the r", "--seed", "11",
        "--no-echo-prime", *flags,
    )  # fmt: skip
    assert printed.exit_code == 0, printed.stderr
    assert printed.stdout == _printed(text)
    assert len(text) == 120


def test_seeds_repeat_and_differ(model: charrnn.Model):
    assert model.sample(200, 1.5, seed=3) == model.sample(200, 1.5, seed=3)
    assert model.sample(200, 1.5, seed=3) != model.sample(200, 1.5, seed=4)
    assert model.sample(200, 1.5) != model.sample(200, 1.5)  # no seed: a random one each time


def test_greedy_sampling_reproduces_the_overfitted_phrase_and_stop_ends_it(model: charrnn.Model):
    rest = PHRASE[len("the red deer") :]
    assert model.sample(len(rest), temperature=0, prime="the red deer") == rest
    assert model.sample(500, temperature=0, prime="the red deer", stop=";") == " runs;"


def test_stream_yields_the_sample_piece_by_piece_and_stops_when_the_reader_does(model: charrnn.Model):
    pieces = list(model.stream(150, 1.0, prime="the", seed=5))
    assert len(pieces) == 150 and all(len(p) == 1 for p in pieces)
    assert "".join(pieces) == model.sample(150, 1.0, prime="the", seed=5)
    stream = model.stream(10**9, 1.0, seed=5)  # a billion characters: only those read are generated
    assert "".join(next(stream) for _ in range(3)) == model.sample(3, 1.0, seed=5)
    stream.close()


def test_stream_checks_its_arguments_before_any_piece_is_asked_for(model: charrnn.Model):
    with pytest.raises(ConfigError, match="--temperature must be >= 0"):
        model.stream(temperature=-1)
    with pytest.raises(VocabularyError, match="'Q'"):
        model.stream(prime="Queen")


@pytest.mark.parametrize(
    ("options", "error", "fragment"),
    [
        ({"length": -1}, ConfigError, "--length must be >= 0"),
        ({"temperature": math.nan}, ConfigError, "--temperature must be >= 0"),
        ({"top_k": 0}, ConfigError, "--top-k must be >= 1"),
        ({"top_p": 1.5}, ConfigError, "--top-p must be in (0, 1]"),
        ({"stop": ""}, ConfigError, "--stop must not be empty"),
        ({"seed": 2**64}, ConfigError, "--seed must be in"),
        ({"prime": "the Deer"}, VocabularyError, "'D'"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_sample_raises_the_commands_errors(model: charrnn.Model, options, error, fragment):
    with pytest.raises(error, match=re.escape(fragment)) as raised:
        model.sample(**{"length": 5, **options})
    assert isinstance(raised.value, CharRNNError)


def test_unknown_prime_characters_can_be_skipped(model: charrnn.Model):
    assert model.sample(40, prime="the Deer", seed=2, skip_unknown=True) == model.sample(
        40, prime="the eer", seed=2
    )
    warnings: list[str] = []
    sampling = model.start_sampling(
        SampleConfig(length=3), prime="tQhe", skip_unknown=True, warn=warnings.append
    )
    assert sampling.prime == "the" and warnings == [
        "dropped 1 prime character(s) outside the vocabulary: 'Q'"
    ]


def test_samples_are_the_batch_charrnn_sample_num_samples_prints(model: charrnn.Model):
    texts = model.samples(3, 60, 3.0, prime="the", seed=9)  # hot: an overfitted model varies
    assert len(texts) == 3 and all(len(t) == 60 for t in texts) and len(set(texts)) == 3
    printed = invoke(
        "sample", "--checkpoint", str(model.path), "--length", "60", "--temperature", "3.0", "--prime", "the",
        "--seed", "9", "--num-samples", "3", "--no-echo-prime",
    ).stdout  # fmt: skip
    for i, text in enumerate(texts):
        assert f"----- sample {i + 1} of 3 -----\n{text}" in printed


def test_samples_from_threads_side_by_side_equal_those_made_one_by_one(model: charrnn.Model):
    expected = [model.sample(300, 3.0, seed=s) for s in range(4)]
    assert len(set(expected)) == 4
    results: dict[int, str] = {}
    threads = [
        threading.Thread(target=lambda s=s: results.update({s: model.sample(300, 3.0, seed=s)}))
        for s in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[s] for s in range(4)] == expected


def test_perplexity_is_the_figure_charrnn_perplexity_prints(model: charrnn.Model, tmp_path: Path):
    text = PHRASE * 3 + "the deer waits; the red runs.\n"
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    result = model.perplexity(text)
    printed = invoke("perplexity", str(tmp_path / "t.txt"), "--checkpoint", str(model.path), "--json")
    figures = json.loads(printed.stdout)["texts"][0]
    assert result.chars_scored == len(text) - 1 == figures["chars_scored"]
    assert result.nats_per_char == pytest.approx(figures["nats_per_char"], rel=1e-9)
    assert result.bits_per_char == pytest.approx(result.nats_per_char / math.log(2))
    assert result.perplexity == pytest.approx(math.exp(result.nats_per_char))
    assert result.baselines == {}  # only when asked: model.perplexity(text, baselines=True)
    assert set(model.perplexity(text, baselines=True).baselines) == {"gzip", "bz2", "lzma"}


def test_perplexity_skips_or_refuses_unknown_characters(model: charrnn.Model):
    skipped = model.perplexity("the Red deer")
    assert (skipped.chars_read, skipped.skipped, skipped.skipped_chars, skipped.chars_scored) == (
        12,
        1,
        "R",
        10,
    )
    assert skipped.nats_per_char == pytest.approx(model.perplexity("the ed deer").nats_per_char)
    with pytest.raises(VocabularyError, match=r"'R' at character position\(s\) 4"):
        model.perplexity("the Red deer", unknown="error")
    with pytest.raises(CharRNNError, match="nothing to predict"):
        model.perplexity("t")


def test_measure_is_charrnn_perplexity_on_files_or_the_validation_text(model: charrnn.Model):
    report = model.perplexity_files()  # the validation part of the corpus the model was trained on
    assert report.results[0].reported_val_loss == pytest.approx(report.results[0].nats_per_char, rel=1e-6)
    with pytest.raises(ConfigError, match="stdin"):
        model.perplexity_files(["-", "-"])


def test_score_ranks_as_charrnn_score_does(model: charrnn.Model):
    right, wrong = "the red deer runs;", "the red deer rnus;"
    scored = model.score([wrong, right])
    assert [(s.rank, s.text) for s in scored] == [(1, right), (2, wrong)]
    printed = json.loads(invoke("score", wrong, right, "--checkpoint", str(model.path), "--json").stdout)[
        "candidates"
    ]
    assert [c["log_prob_nats"] for c in printed] == pytest.approx([-s.nats for s in scored], rel=1e-9)
    with pytest.raises(ConfigError, match="give at least one text"):
        model.score([])


def test_info_is_what_charrnn_info_json_prints(model: charrnn.Model):
    printed = invoke("info", str(model.path), "--json")
    assert model.info == json.loads(printed.stdout)
    assert model.info["model"]["hidden_size"] == 64


def _readme_python() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## From Python\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None, "no python block under ## From Python"
    return block.group(1)


def test_the_readme_python_example_runs(tmp_path: Path, monkeypatch, capsys):
    """On a tiny model of the shipped corpus, whose vocabulary the example's texts need."""
    corpus = ROOT / "corpora" / "tinyshakespeare.txt"
    train(tiny_config(corpus, tmp_path / "checkpoints", max_steps=2, val_frac=0.01))
    monkeypatch.chdir(tmp_path)
    exec(compile(_readme_python(), "README.md", "exec"), {"__name__": "readme"})
    assert "bits/char" in capsys.readouterr().out
