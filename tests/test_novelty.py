"""`charrnn sample --novelty`: the suffix array and the copied spans against brute force on small
texts, the index built once and then read from the cache, and the report beside the sample."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import PHRASE, invoke
from hypothesis import given, settings
from hypothesis import strategies as st

from charrnn.data import suffixes
from charrnn.data.corpus import fingerprint_file
from charrnn.data.suffixes import SuffixIndex, cached_index, suffix_array
from charrnn.data.vocab import Vocabulary
from charrnn.measure.novelty import TrainingIndex, training_index
from charrnn.model.checkpoint import Checkpoint, load_model
from charrnn.model.records import CorpusRecord

ABC = Vocabulary("abc")


def index_of(corpus: str) -> TrainingIndex:
    ids = ABC.encode(corpus)
    return TrainingIndex("corpus", ABC, SuffixIndex(ids, suffix_array(ids)))


def brute_longest(sample: str, corpus: str) -> int:
    return max(
        (j - i for i in range(len(sample)) for j in range(i + 1, len(sample) + 1) if sample[i:j] in corpus),
        default=0,
    )


def brute_ngrams(sample: str, corpus: str, n: int) -> tuple[int, int]:
    grams = [sample[i : i + n] for i in range(len(sample) - n + 1)]
    return len(grams), sum(g in corpus for g in grams)


texts = st.text(alphabet="abc", min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(texts)
def test_the_suffix_array_sorts_every_suffix(text):
    ids = ABC.encode(text)
    assert suffix_array(ids).tolist() == sorted(range(len(text)), key=lambda i: text[i:])


def test_the_suffix_array_of_wide_ids_and_of_nothing():
    ids = np.array([300, 2, 300, 2, 70000 % 65536, 2], dtype=np.uint16)
    assert suffix_array(ids).tolist() == sorted(range(6), key=lambda i: ids[i:].tolist())
    assert suffix_array(np.zeros(0, dtype=np.uint8)).tolist() == []


@settings(max_examples=200, deadline=None)
@given(sample=texts, corpus=texts, n=st.integers(1, 8))
def test_longest_copied_span_and_ngram_share_are_the_brute_force_ones(sample, corpus, n):
    novelty = index_of(corpus).novelty(sample, n=n)
    assert novelty.longest == brute_longest(sample, corpus)
    assert (novelty.ngrams, novelty.ngrams_found) == brute_ngrams(sample, corpus, n)
    assert novelty.span == sample[novelty.longest_at : novelty.longest_at + novelty.longest]
    assert corpus[novelty.corpus_at : novelty.corpus_at + novelty.longest] == novelty.span


@settings(max_examples=200, deadline=None)
@given(sample=texts, corpus=texts, probe=st.sampled_from([1, 2, 256]))
def test_the_matching_statistics_are_the_brute_force_ones_at_every_position(sample, corpus, probe):
    """At each position of the sample, the longest prefix of the rest found in the corpus (the
    positions inside a match settled without a look-up each), and a place where it is."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(suffixes, "FIRST_PROBE", probe)
        matches = index_of(corpus).index.matches(ABC.encode(sample))
    for i in range(len(sample)):
        length = max((n for n in range(len(sample) - i + 1) if sample[i : i + n] in corpus), default=0)
        assert matches.lengths[i] == length
        at = int(matches.where[i])
        assert corpus[at : at + length] == sample[i : i + length]


def test_a_long_copied_span_costs_a_few_look_ups_not_one_a_character(monkeypatch):
    rng = np.random.default_rng(1)
    corpus = "".join(rng.choice(list("abc"), 20_000))
    sample = corpus[5_000:15_000]  # one 10,000-character copy
    index = index_of(corpus).index
    calls: list[int] = []
    real = index.longest_at
    monkeypatch.setattr(index, "longest_at", lambda q: calls.append(len(q)) or real(q))
    matches = index.matches(ABC.encode(sample))
    assert matches.lengths.tolist() == list(range(10_000, 0, -1))
    assert len(calls) == 1  # the rest of the sample lies inside the first match
    calls.clear()
    matches = index.matches(ABC.encode(sample + "cc" + sample[:50]))  # the copy ends inside the sample
    assert matches.lengths[0] >= 10_000
    assert matches.lengths[:9_000].tolist() == [int(matches.lengths[0]) - t for t in range(9_000)]
    assert len(calls) < 100  # a binary search at the copy's end, not a look-up a character


def test_a_copy_longer_than_the_first_probe_is_measured_in_full(monkeypatch):
    monkeypatch.setattr(suffixes, "FIRST_PROBE", 4)  # doubled 4 → 8 → … while everything matches
    rng = np.random.default_rng(0)
    corpus = "".join(rng.choice(list("abc"), 500))
    sample = "cc" + corpus[100:237] + "cc"
    novelty = index_of(corpus).novelty(sample)
    assert novelty.longest == brute_longest(sample, corpus) >= 137
    assert novelty.span in corpus


def test_the_index_is_built_once_then_read_from_the_cache(tmp_path, monkeypatch):
    builds: list[int] = []
    real = suffixes.suffix_array
    monkeypatch.setattr(suffixes, "suffix_array", lambda ids: builds.append(len(ids)) or real(ids))
    ids = ABC.encode("abcabcaab" * 50)
    told: list[str] = []
    first = cached_index(ids, "entry-a", lambda: told.append("building"), directory=tmp_path)
    second = cached_index(ids, "entry-a", lambda: told.append("building"), directory=tmp_path)
    assert builds == [450] and told == ["building"]
    assert (tmp_path / "entry-a.suffixes.npy").is_file()
    assert np.array_equal(first.order, second.order) and isinstance(second.order, np.memmap)
    cached_index(ids[:-1], "entry-a", directory=tmp_path)  # an entry that does not fit is rebuilt
    assert builds == [450, 449]


def test_the_index_is_of_the_training_part_alone(overfit_dir, tmp_path):
    """A span that only the validation part holds is not found: the model never trained on it."""
    held_out = ("waits.\n" * 6)[:39]  # "waits.\nwaits." never occurs in PHRASE
    text = PHRASE * 9 + held_out  # 390 characters: the last 39 (10%) are the validation part
    (tmp_path / "c.txt").write_text(text, encoding="utf-8")
    file = fingerprint_file(tmp_path / "c.txt")
    record = CorpusRecord((file.path,), (file,), num_chars=len(text), val_frac=0.1)
    replace(Checkpoint.load(overfit_dir / "last.pt"), corpus=record).save(tmp_path / "ck.pt")
    index = training_index(load_model(tmp_path / "ck.pt"), tmp_path / "ck.pt")
    assert index.chars == len(PHRASE * 9)
    assert index.novelty(PHRASE * 2).longest == len(PHRASE * 2)
    assert index.novelty(held_out).longest == len("waits.\n")


def test_sample_novelty_reports_on_stderr_and_leaves_stdout_to_the_sample(overfit_dir):
    args = ["sample", "--checkpoint", str(overfit_dir / "last.pt"), "--length", "120", "--temperature", "0"]
    plain = invoke(*args, "--prime", "the ")
    reported = invoke(*args, "--prime", "the ", "--novelty")
    assert reported.exit_code == 0, reported.stderr
    assert reported.stdout == plain.stdout  # the report changes nothing on stdout
    # greedy sampling from a model that knows PHRASE by heart copies it: every 8-gram is there
    line = " ".join(reported.stderr.split())
    found = re.search(r"longest span found verbatim in the training text of \S+ is (\d+) characters", line)
    assert found and int(found.group(1)) == 120
    assert "113 of its 113 8-grams (100.0%) occur there" in line


def test_sample_novelty_with_several_samples_reports_each(overfit_dir, tmp_path: Path):
    result = invoke(
        "sample", "--checkpoint", str(overfit_dir / "last.pt"), "--length", "30", "--num-samples", "2",
        "--seed", "3", "--temperature", "2", "--novelty",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    stderr = " ".join(result.stderr.split())
    assert "sample 1 of 2: novelty:" in stderr and "sample 2 of 2: novelty:" in stderr
    assert "of its 23 8-grams" in stderr


@pytest.mark.parametrize("sample", ["", "ab"])
def test_a_sample_too_short_for_an_ngram(sample):
    novelty = index_of("abcabc").novelty(sample)
    assert novelty.ngrams == 0 and novelty.share_found is None
