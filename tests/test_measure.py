import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import PHRASE, assert_one_line_error, invoke

import charrnn
from charrnn.data.reading import TextStats, text_ids
from charrnn.data.text import read_text_chunks
from charrnn.data.vocab import Vocabulary
from charrnn.measure.config import DynamicConfig, MeasureConfig
from charrnn.measure.dynamic import DynamicScorer
from charrnn.measure.loss import SEGMENT_WARMUP, TextScorer, text_loss
from charrnn.measure.perplexity import measure_text, measure_validation
from charrnn.measure.score import score_candidates
from charrnn.model.checkpoint import load_model
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN

CPU = torch.device("cpu")


def _random_model(vocab_size: int = 9) -> CharRNN:
    torch.manual_seed(0)
    return CharRNN(ModelConfig(vocab_size=vocab_size, cell="lstm", num_layers=2, hidden_size=16)).eval()


def test_a_uniform_model_has_perplexity_equal_to_the_vocabulary_size():
    model = _random_model(vocab_size=9)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    scorer = TextScorer(model, CPU)
    scorer.feed(np.random.default_rng(0).integers(0, 9, 500))
    report = scorer.report()
    assert report.num_predicted == 499
    assert report.perplexity == pytest.approx(9.0, rel=1e-6)
    assert report.bits_per_char == pytest.approx(math.log2(9), rel=1e-6)


def test_chunked_evaluation_equals_whole_text_evaluation():
    model = _random_model()
    ids = np.random.default_rng(1).integers(0, 9, 1000)
    whole = TextScorer(model, CPU, chunk_len=10_000)
    whole.feed(ids)
    for piece, chunk_len in [(7, 4096), (333, 50), (1000, 1)]:
        scorer = TextScorer(model, CPU, chunk_len=chunk_len)
        for start in range(0, len(ids), piece):
            scorer.feed(ids[start : start + piece])
        assert scorer.num_predicted == whole.num_predicted == 999
        # float32 rounding of the batched input projection differs with the sequence length
        assert scorer.total_nats == pytest.approx(whole.total_nats, rel=1e-6)


def test_streams_approximate_the_exact_loss():
    model = _random_model()
    ids = np.random.default_rng(2).integers(0, 9, 2000)
    exact = text_loss(model, ids, CPU)
    approx = text_loss(model, ids, CPU, segments=4)
    assert approx.num_predicted == exact.num_predicted
    assert approx.total_nats != exact.total_nats
    assert approx.nats_per_char == pytest.approx(exact.nats_per_char, rel=0.02)


def test_warmed_segments_come_closer_to_the_exact_loss_and_a_full_warmup_is_exact(overfit_dir: Path):
    """Each segment after the first reads the characters before it unscored: on a model that has
    learned PHRASE by heart (a cold segment start costs it dearly), a warm-up of two phrases
    brings the loss near the exact one; with two segments, one as long as the text is exact."""
    model = load_model(overfit_dir / "last.pt", CPU).network
    vocab = Vocabulary.from_text(PHRASE)
    ids = vocab.encode(PHRASE * 30)
    exact = text_loss(model, ids, CPU).nats_per_char
    cold = text_loss(model, ids, CPU, segments=8).nats_per_char
    warm = text_loss(model, ids, CPU, segments=8, warmup=2 * len(PHRASE)).nats_per_char
    whole = text_loss(model, ids, CPU, segments=2, warmup=len(ids)).nats_per_char
    assert abs(warm - exact) < abs(cold - exact) / 4
    assert whole == pytest.approx(exact, rel=1e-5, abs=1e-7)
    # more segments than characters to spare: the last ones are empty, their warm-up too
    short = ids[:50]
    assert text_loss(model, short, CPU, segments=40, warmup=1024).num_predicted == 49


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "mrnn", "mlstm"])
def test_two_segments_warmed_by_the_whole_first_one_are_exact_for_every_cell(cell: str):
    """The second segment starts from the state the first segment's text leaves, the first from a
    zero state (whatever its warm-up read): the exact loss, for every cell's state."""
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=9, cell=cell, num_layers=2, hidden_size=16)).eval()
    ids = np.random.default_rng(5).integers(0, 9, 801)
    exact = text_loss(model, ids, CPU).total_nats
    assert text_loss(model, ids, CPU, segments=2, warmup=len(ids)).total_nats == pytest.approx(
        exact, rel=1e-5
    )
    assert text_loss(model, ids, CPU, segments=2).total_nats != pytest.approx(exact, rel=2e-6)


def test_streams_carry_their_state_from_chunk_to_chunk():
    """Each of the K segments is one stream: cutting it into chunks must not restart its state."""
    model = _random_model()
    ids = np.random.default_rng(4).integers(0, 9, 2001)
    whole = text_loss(model, ids, CPU, segments=4, chunk_len=4096)  # one chunk per segment
    for chunk_len in (1, 7, 100):
        chunked = text_loss(model, ids, CPU, segments=4, chunk_len=chunk_len)
        assert chunked.total_nats == pytest.approx(whole.total_nats, rel=1e-5), chunk_len


def test_validation_equals_what_training_reported(overfit_dir: Path):
    loaded = load_model(overfit_dir / "last.pt", CPU)
    result = measure_validation(loaded, overfit_dir / "last.pt", MeasureConfig(baselines=False), CPU)
    assert result.reported_val_loss is not None
    assert result.static.nats_per_char == pytest.approx(result.reported_val_loss, rel=1e-6)


def test_an_overfitted_model_beats_the_compressors_on_its_text(overfit_dir: Path, tmp_path: Path):
    text = tmp_path / "same.txt"
    text.write_text(PHRASE * 10, encoding="utf-8")
    loaded = load_model(overfit_dir / "last.pt", CPU)
    result = measure_text(loaded, str(text), MeasureConfig(), CPU)
    assert set(result.baselines) == {"gzip", "bz2", "lzma"}
    assert result.static.bits_per_char < 0.25 * min(result.baselines.values())


def test_reading_in_chunks_skips_and_counts_unknown_characters(tmp_path: Path):
    path = tmp_path / "t.txt"
    path.write_bytes(("\ufeff" + "abcé\nab€c" * 3).encode())  # a leading byte-order mark is dropped

    stats = TextStats()
    chunks = read_text_chunks(str(path), chunk_bytes=3)
    ids = np.concatenate(list(text_ids(chunks, str(path), Vocabulary("\nabc"), "skip", stats)))
    assert Vocabulary("\nabc").decode(ids) == "abc\nabc" * 3
    assert (stats.skipped, stats.skipped_chars, stats.chars) == (6, {"é", "€"}, 27)


def test_score_ranks_the_trained_text_above_a_corruption(overfit_dir: Path):
    loaded = load_model(overfit_dir / "last.pt", CPU)
    right, wrong = PHRASE.strip(), PHRASE.strip().replace("runs", "rnus")
    scored = score_candidates(loaded.network, loaded.vocab, [wrong, right], "", CPU)
    assert [s.text for s in scored] == [right, wrong]
    assert [s.rank for s in scored] == [1, 2]
    assert scored[0].nats < scored[1].nats


def test_score_reads_context_and_candidates_in_chunks_with_the_same_result(overfit_dir: Path):
    """A long context and long candidates are read a chunk at a time, the state carried: the same
    nats as one forward pass over each (to float tolerance), whatever the chunk length."""
    loaded = load_model(overfit_dir / "last.pt", CPU)
    context, candidates = PHRASE * 5, [PHRASE * 4, "the red dear", PHRASE.replace("runs", "rnus") * 3]
    whole = score_candidates(loaded.network, loaded.vocab, candidates, context, CPU)
    with torch.no_grad():  # one pass over context + candidate, by hand
        for s in whole:
            ids = torch.from_numpy(loaded.vocab.encode(context + s.text).astype(np.int64))
            logits, _ = loaded.network(ids[None, :-1])
            nats = F.cross_entropy(logits[0, len(context) - 1 :], ids[len(context) :], reduction="sum")
            assert s.nats == pytest.approx(float(nats), rel=1e-5)
    for chunk_len in (1, 7, 50):
        chunked = score_candidates(
            loaded.network, loaded.vocab, candidates, context, CPU, chunk_len=chunk_len
        )
        assert [s.text for s in chunked] == [s.text for s in whole]
        assert [s.nats for s in chunked] == pytest.approx([s.nats for s in whole], rel=1e-5)


def test_dynamic_evaluation_scores_each_segment_before_learning_from_it():
    model = _random_model()
    ids = np.random.default_rng(3).integers(0, 9, 301)
    dynamic = DynamicScorer(model, DynamicConfig(lr=1e-2, seg_len=50), CPU)
    for start in range(0, len(ids), 37):
        dynamic.feed(ids[start : start + 37])
    report = dynamic.report()
    static = TextScorer(model, CPU)
    static.feed(ids[:51])  # the first segment: 50 predictions
    assert dynamic.segment_nats[0] == pytest.approx(static.total_nats, rel=1e-6)
    assert report.num_predicted == 300 and len(dynamic.segment_nats) == 6
    later = TextScorer(model, CPU)
    later.feed(ids)
    assert report.total_nats != pytest.approx(later.total_nats, rel=1e-6)  # it did adapt
    assert torch.equal(model.head.weight, _random_model().head.weight)  # the caller's model unchanged


def test_dynamic_evaluation_lowers_the_loss_on_repetitive_text(overfit_dir: Path, tmp_path: Path):
    text = tmp_path / "new.txt"
    text.write_text("the dear deer waits; " * 30, encoding="utf-8")
    loaded = load_model(overfit_dir / "last.pt", CPU)
    config = MeasureConfig(baselines=False, dynamic=DynamicConfig(lr=3e-3, seg_len=20))
    result = measure_text(loaded, str(text), config, CPU)
    assert result.dynamic is not None
    assert result.dynamic.nats_per_char < 0.8 * result.static.nats_per_char


def test_perplexity_cli_json_from_stdin(overfit_dir: Path):
    ck = str(overfit_dir / "last.pt")
    result = invoke("perplexity", "-", "--checkpoint", ck, "--json", input=PHRASE * 3)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    row = doc["texts"][0]
    assert row["text"] == "stdin" and row["chars_scored"] == len(PHRASE) * 3 - 1
    expected = charrnn.load(ck).perplexity(PHRASE * 3, unknown="error")  # the library, same text
    assert row["nats_per_char"] == pytest.approx(expected.nats_per_char, rel=1e-6)
    assert row["bits_per_char"] == pytest.approx(expected.nats_per_char / math.log(2), rel=1e-6)
    assert row["perplexity"] == pytest.approx(math.exp(expected.nats_per_char), rel=1e-6)
    assert row["chars_per_sec"] == pytest.approx(row["chars_scored"] / row["seconds"], rel=1e-6)
    assert set(row["baselines_bits_per_char"]) == {"gzip", "bz2", "lzma"}
    assert doc["exact"] is True and doc["total"]["chars_scored"] == row["chars_scored"]


def test_perplexity_cli_table_for_several_files(overfit_dir: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a, b = Path("a.txt"), Path("b.txt")
    a.write_text(PHRASE * 2, encoding="utf-8")
    b.write_text("the deer\n", encoding="utf-8")
    result = invoke("perplexity", str(a), str(b), "--checkpoint", str(overfit_dir / "last.pt"))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    rows = [line for line in result.stderr.splitlines() if line.startswith("│")]
    cells = [[cell.strip() for cell in row.split("│")[1:-1]] for row in rows]
    assert [row[0] for row in cells] == ["a.txt", "b.txt", "total"]
    model = charrnn.load(overfit_dir / "last.pt")
    for row, text in zip(cells, [PHRASE * 2, "the deer\n"], strict=False):
        expected = model.perplexity(text)
        assert f"{expected.chars_scored:,}" in row and f"{expected.nats_per_char:.4f}" in row, row


def test_perplexity_cli_unknown_characters_as_errors(overfit_dir: Path, tmp_path: Path):
    path = tmp_path / "u.txt"
    path.write_text("the Zed deer", encoding="utf-8")
    args = ["perplexity", str(path), "--checkpoint", str(overfit_dir / "last.pt")]
    assert_one_line_error(invoke(*args, "--unknown", "error"), "'Z' at character position(s) 4")
    skipped = invoke(*args, "--json")
    assert json.loads(skipped.stdout)["texts"][0]["skipped_unknown"] == 1


def test_perplexity_needs_a_file_when_the_corpus_moved(overfit_dir: Path, tmp_path: Path):
    import shutil

    moved = tmp_path / "ck"
    shutil.copytree(overfit_dir, moved)
    (overfit_dir.parent / "tiny.txt").rename(tmp_path / "elsewhere.txt")
    try:
        result = invoke("perplexity", "--checkpoint", str(moved / "last.pt"))
        assert_one_line_error(result, "give a FILE")
    finally:
        (tmp_path / "elsewhere.txt").rename(overfit_dir.parent / "tiny.txt")


def test_score_cli_table_and_json(overfit_dir: Path, tmp_path: Path):
    ck = str(overfit_dir / "last.pt")
    result = invoke("score", "the red dear", "the red deer", "--checkpoint", ck, "--json")
    assert result.exit_code == 0, result.stderr
    ranked = json.loads(result.stdout)["candidates"]
    assert [c["rank"] for c in ranked] == [1, 2]
    assert ranked[0]["log_prob_nats"] >= ranked[1]["log_prob_nats"]
    candidates = tmp_path / "c.txt"
    candidates.write_text("the red deer\nthe rde deer\n", encoding="utf-8")
    table = invoke("score", "--file", str(candidates), "--context", "runs; ", "--checkpoint", ck)
    assert table.exit_code == 0 and table.stdout == ""
    assert table.stderr.index("the red deer") < table.stderr.index("the rde deer")
    assert_one_line_error(invoke("score", "the Zed", "--checkpoint", ck), "'Z'")
    assert_one_line_error(invoke("score", "--checkpoint", ck), "at least one text")


def test_perplexity_of_a_huge_loss_is_infinite_not_an_overflow():
    from charrnn.measure.loss import LossReport

    assert LossReport(total_nats=2e5, num_predicted=100).perplexity == math.inf  # 2,000 nats/char
    assert LossReport(total_nats=100 * math.log(65), num_predicted=100).perplexity == pytest.approx(65)


def test_perplexity_in_segments_reads_warmed_segments(overfit_dir: Path, tmp_path: Path):
    """`charrnn perplexity --segments K` (the API's segments=K): K segments, each after the 1,024
    characters before it, so a model that knows PHRASE by heart loses little at the cuts; the
    old names (--streams, streams=) still work."""
    model = charrnn.load(overfit_dir / "last.pt", device="cpu")
    text = PHRASE * 30
    ids = Vocabulary.from_text(PHRASE).encode(text)
    network = load_model(overfit_dir / "last.pt", CPU).network
    warmed = text_loss(network, ids, CPU, segments=8, warmup=SEGMENT_WARMUP).nats_per_char
    cold = text_loss(network, ids, CPU, segments=8).nats_per_char
    assert model.perplexity(text, segments=8).nats_per_char == pytest.approx(warmed, rel=1e-6)
    assert model.perplexity(text, streams=8).nats_per_char == model.perplexity(text, segments=8).nats_per_char
    assert warmed < cold
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    ck = str(overfit_dir / "last.pt")
    new_name, old_name = (
        json.loads(
            invoke("perplexity", str(tmp_path / "t.txt"), "--checkpoint", ck, flag, "8", "--json").stdout
        )
        for flag in ("--segments", "--streams")
    )
    assert new_name["segments"] == old_name["segments"] == 8 and new_name["exact"] is False
    assert new_name["total"]["nats_per_char"] == old_name["total"]["nats_per_char"]
