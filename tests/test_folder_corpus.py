"""A corpus of several files or a folder: a stable order, hidden and non-text files left out (the
latter named), documents separated, each file's tail validating, fingerprints kept and checked."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PHRASE, TINY_ARGS, assert_one_line_error, invoke, last_checkpoint, tiny_config

import charrnn
from charrnn.data.corpus import load_corpus
from charrnn.data.sources import corpus_files
from charrnn.data.vocab import DOCUMENT_SEPARATOR
from charrnn.generate import sampling
from charrnn.train.loop import train

SEP = DOCUMENT_SEPARATOR


def _folder(root: Path, files: dict[str, str | bytes]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return root


def test_a_folder_gives_its_files_recursively_in_sorted_order_hidden_ones_left_out(tmp_path: Path):
    root = _folder(
        tmp_path / "poems",
        {"b.txt": "b", "a/z.txt": "z", "a/b/c.txt": "c", ".hidden.txt": "h", ".git/HEAD": "x", "a/.x/y": "y"},
    )
    found = [p.relative_to(root).as_posix() for p in corpus_files([root])]
    assert found == ["a/b/c.txt", "a/z.txt", "b.txt"]
    # a file given after its folder is not read twice; paths keep the order given
    again = corpus_files([root / "b.txt", root, root / "b.txt"])
    assert [p.relative_to(root).as_posix() for p in again] == ["b.txt", "a/b/c.txt", "a/z.txt"]
    # a link to a file of the corpus is that file (taken where it first appears); a folder named by
    # another path is that folder
    (root / "a" / "link.txt").symlink_to(root / "b.txt")
    (tmp_path / "poems-link").symlink_to(root)
    linked = corpus_files([root, tmp_path / "poems-link" / "a"])
    assert [p.relative_to(root).as_posix() for p in linked] == ["a/b/c.txt", "a/link.txt", "a/z.txt"]


def test_each_file_gives_its_tail_to_validation_and_documents_are_separated(tmp_path: Path):
    a, b = "abcdefghij" * 10, "KLMNOPQRST" * 5  # 100 and 50 characters: tails of 10 and 5
    root = _folder(tmp_path / "docs", {"1.txt": a, "2.txt": b})
    corpus = load_corpus(root, val_frac=0.1)
    train_ids, val_ids = corpus.split()
    decode = corpus.vocab.decode
    assert decode(train_ids) == a[:90] + SEP + b[:45]
    assert decode(val_ids) == a[90:] + SEP + b[45:]
    assert [Path(f.path).name for f in corpus.files] == ["1.txt", "2.txt"] and corpus.skipped == ()
    # one file is its own two parts, as always: no separator in its vocabulary
    alone = load_corpus(root / "1.txt", val_frac=0.1)
    assert SEP not in alone.vocab.chars and alone.vocab.decode(alone.ids) == a


def test_files_that_are_not_text_are_skipped_and_named(tmp_path: Path):
    root = _folder(
        tmp_path / "mixed",
        {
            "a.txt": PHRASE * 5,
            "b.bin": b"\x00\x01\x02binary",
            "c.gz": b"\x1f\x8b\x08\x00\xff\xfe",
            "d.txt": "",
        },
    )
    (root / "e.txt").write_text("école " * 20, encoding="latin-1")  # another encoding
    corpus = load_corpus(root)
    assert [Path(f.path).name for f in corpus.files] == ["a.txt"]
    assert len(corpus.skipped) == 4
    for name, why in [("b.bin", "NUL"), ("c.gz", "gzip"), ("d.txt", "empty"), ("e.txt", "not valid UTF-8")]:
        assert any(name in line and why in line for line in corpus.skipped), (name, corpus.skipped)


def test_a_cached_folder_corpus_equals_the_in_memory_one(tmp_path: Path):
    root = _folder(tmp_path / "docs", {f"{i:02}.txt": PHRASE * (i + 3) for i in range(12)} | {"x.bin": b"\0"})
    in_memory = load_corpus(root, cache_min_bytes=1 << 40, val_frac=0.2)
    first = load_corpus(root, cache_min_bytes=0, val_frac=0.2)  # encoded into the cache
    again = load_corpus(root, cache_min_bytes=0, val_frac=0.2)  # served from it
    assert isinstance(again.ids, np.memmap)
    for corpus in (first, again):
        assert corpus.files == in_memory.files and corpus.skipped == in_memory.skipped
        assert corpus.vocab == in_memory.vocab and corpus.num_val == in_memory.num_val
        assert np.array_equal(corpus.ids, in_memory.ids)
    # another split of the same folder is another entry
    other = load_corpus(root, cache_min_bytes=0, val_frac=0.1)
    assert other.num_val < again.num_val
    assert np.array_equal(other.ids, load_corpus(root, cache_min_bytes=1 << 40, val_frac=0.1).ids)


def test_a_folder_trains_the_same_model_as_its_files_given_in_order(tmp_path: Path):
    root = _folder(tmp_path / "docs", {"b/2.txt": PHRASE * 12, "a.txt": PHRASE.upper() * 12, ".h": "x"})
    train(tiny_config(root, tmp_path / "folder", max_steps=4))
    files = (str(root / "a.txt"), str(root / "b" / "2.txt"))
    train(replace(tiny_config(root, tmp_path / "files", max_steps=4), corpus=files))
    folder, listed = last_checkpoint(tmp_path / "folder"), last_checkpoint(tmp_path / "files")
    for name, weight in folder.weights.items():
        assert torch.equal(weight, listed.weights[name]), name
    assert folder.corpus is not None and folder.corpus.sources == (str(root),)
    assert [f.path for f in folder.corpus.files] == list(files)


@pytest.fixture
def folder_run(tmp_path: Path) -> tuple[Path, Path, object]:
    root = _folder(
        tmp_path / "docs",
        {"one.txt": PHRASE * 20, "two.txt": PHRASE.upper() * 20, "pic.png": b"\x89PNG\r\n\x1a\n\0"},
    )
    checkpoint_dir = tmp_path / "ck"
    shown = [a for a in TINY_ARGS if a != "--quiet"]  # the skipped file is told like every other message
    result = invoke("train", str(root), "--checkpoint-dir", str(checkpoint_dir), *shown)
    return root, checkpoint_dir, result


def test_training_on_a_folder_names_the_skipped_file_and_info_names_the_files(folder_run):
    root, checkpoint_dir, result = folder_run
    assert result.exit_code == 0, result.stderr
    skipped = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "pic.png" in skipped[0] and result.stdout == ""
    info = invoke("info", str(checkpoint_dir), "--json")
    corpus = json.loads(info.stdout)["corpus"]
    assert corpus["sources"] == [str(root)] and corpus["num_files"] == 2
    assert [Path(f["path"]).name for f in corpus["files"]] == ["one.txt", "two.txt"]
    table = invoke("info", str(checkpoint_dir))
    assert "(2 files)" in table.stderr and "one.txt" in table.stderr and "two.txt" in table.stderr
    measured = invoke("perplexity", "--checkpoint", str(checkpoint_dir), "--no-baselines", "--json")
    assert measured.exit_code == 0, measured.stderr
    text = json.loads(measured.stdout)["texts"][0]
    assert text["chars_read"] == 2 * round(len(PHRASE) * 20 * 0.1) + 1  # two tails, one separator
    assert text["nats_per_char"] == pytest.approx(text["training_reported_nats_per_char"], abs=1e-5)


def test_resume_notices_a_changed_folder(folder_run):
    root, checkpoint_dir, result = folder_run
    assert result.exit_code == 0, result.stderr
    resume = [
        "train",
        str(root),
        "--checkpoint-dir",
        str(checkpoint_dir),
        *TINY_ARGS,
        "--resume",
        "--max-steps",
        "3",
    ]
    assert invoke(*resume).exit_code == 0  # unchanged (a changed non-text file does not matter)
    (root / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    (root / "three.txt").write_text(PHRASE, encoding="utf-8")
    again = invoke(*resume[:-1], "4")
    assert_one_line_error(again, "which has changed since (")
    assert "three.txt added" in again.stderr
    perplexity = invoke("perplexity", "--checkpoint", str(checkpoint_dir), "--no-baselines")
    assert perplexity.exit_code == 0, perplexity.stderr  # the files it was trained on are unchanged
    (root / "one.txt").write_text(PHRASE * 3, encoding="utf-8")
    gone = invoke("perplexity", "--checkpoint", str(checkpoint_dir), "--no-baselines")
    assert_one_line_error(gone, "one.txt changed")


def test_sampling_with_no_prime_starts_a_document(folder_run, monkeypatch):
    _, checkpoint_dir, result = folder_run
    assert result.exit_code == 0, result.stderr
    loaded = last_checkpoint(checkpoint_dir)
    assert loaded.vocabulary.line_start == SEP
    started: list[list[int]] = []
    generate = sampling.generate_ids

    def watched(model, start, *args, **kwargs):
        started.append(start.tolist())
        return generate(model, start, *args, **kwargs)

    monkeypatch.setattr(sampling, "generate_ids", watched)
    charrnn.load(checkpoint_dir / "last.pt").sample(5, seed=1)
    assert started == [[loaded.vocabulary.chars.index(SEP)]]
