"""Property-based tests: vocabulary and corpus round trips, the TBPTT stream layout, and streamed
evaluation and chunked reading that do not depend on how the text is cut."""

import re
from functools import cache

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st

from charrnn.data.batching import stream_layout
from charrnn.data.corpus import load_corpus
from charrnn.data.text import NOT_TEXT, read_text_chunks
from charrnn.data.vocab import Vocabulary
from charrnn.errors import CorpusError, VocabularyError
from charrnn.measure.loss import TextScorer
from charrnn.model.config import CELLS, ModelConfig
from charrnn.model.network import CharRNN

CPU = torch.device("cpu")

# Reproducible runs that keep no example database (hypothesis may still cache Unicode tables in
# the ignored .hypothesis/ directory).
PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=100)

# Pieces of text hypothesis would seldom find on its own: line endings, byte-order marks,
# combining marks and joiners, astral-plane characters, the edges of the code space.
SPECIAL = [
    "\r\n",
    "\r",
    "\n",
    "\t",
    "\ufeff",
    "e\u0301",
    "\u0301",
    "\u200d",
    "\u2028",
    "\x85",
    "\x7f",
    "\ufffd",
    "\ud7ff",
    "\ue000",
    "\uffff",
    "中文",
    "\U0001f600",
    "\U0001f44d\U0001f3fd",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U00010348",
    "\U0010ffff",
]
PIECE = st.one_of(
    st.characters(codec="utf-8"),  # any code point but a surrogate
    st.characters(min_codepoint=0x10000, codec="utf-8"),
    st.sampled_from(SPECIAL),
)
TEXT = st.lists(PIECE, max_size=40).map("".join)


def without_bom(text: str) -> str:
    """What reading a file drops: one leading byte-order mark."""
    return text[1:] if text.startswith("\ufeff") else text


# --- vocabulary and corpus ---------------------------------------------------------------------


def check_round_trip(text: str) -> np.ndarray:
    vocab = Vocabulary.from_text(text)
    distinct = sorted(set(text))
    rank = {c: i for i, c in enumerate(distinct)}
    assert vocab.chars == "".join(distinct)
    ids = vocab.encode(text)
    assert ids.tolist() == [rank[c] for c in text]
    assert vocab.decode(ids) == text
    assert vocab.decode(ids.tolist()) == text
    return ids


@settings(PROPERTY, max_examples=200)
@given(text=TEXT)
def test_encode_decode_round_trip(text: str):
    if not text:
        with pytest.raises(VocabularyError, match="empty"):
            Vocabulary.from_text(text)
        return
    ids = check_round_trip(text)
    assert ids.dtype == np.uint8  # at most 40 pieces: never more than 256 distinct characters


@settings(PROPERTY, max_examples=10)
@given(text=TEXT, wide=st.sampled_from([300, 70_000]))
def test_wide_vocabularies_round_trip_with_wider_ids(text: str, wide: int):
    # `wide` distinct astral characters push the vocabulary past uint8 (300) or past uint16 (70 000).
    text = "".join(map(chr, range(0x20000, 0x20000 + wide))) + text
    ids = check_round_trip(text)
    assert ids.dtype == (np.uint16 if len(set(text)) <= 65536 else np.uint32)


@settings(PROPERTY, max_examples=200)
@given(known=TEXT.filter(bool), text=TEXT)
def test_encode_known_drops_exactly_the_unknown_characters(known: str, text: str):
    vocab = Vocabulary.from_text(known)
    ids, unknown_at = vocab.encode_known(text)
    expected_unknown = [i for i, c in enumerate(text) if c not in set(known)]
    assert unknown_at.tolist() == expected_unknown
    assert vocab.decode(ids) == "".join(c for c in text if c in set(known))
    assert vocab.unknown_chars(text) == "".join(sorted({text[i] for i in expected_unknown}))
    if expected_unknown:
        with pytest.raises(VocabularyError, match=rf"^{len(vocab.unknown_chars(text))} character\(s\)"):
            vocab.encode(text)
    else:
        assert np.array_equal(vocab.encode(text), ids)


@PROPERTY
@given(text=TEXT)
def test_a_corpus_file_decodes_back_to_its_text(tmp_path_factory: pytest.TempPathFactory, text: str):
    path = tmp_path_factory.getbasetemp() / "corpus_round_trip.txt"
    data = text.encode("utf-8")
    path.write_bytes(data)
    expected = without_bom(text)
    if not expected:
        with pytest.raises(CorpusError, match="corpus is empty"):
            load_corpus(path)
    elif "\0" in expected:
        with pytest.raises(CorpusError, match=rf"NUL character \(at character {expected.index(chr(0))}\)"):
            load_corpus(path)
    else:
        corpus = load_corpus(path)
        assert corpus.vocab.chars == "".join(sorted(set(expected)))
        assert len(corpus.ids) == len(expected)
        assert corpus.vocab.decode(corpus.ids) == expected
        assert corpus.files[0].size == len(data)


# --- batching ----------------------------------------------------------------------------------


@settings(PROPERTY, max_examples=300)
@given(
    n=st.integers(0, 1500),
    batch_size=st.integers(1, 12),
    seq_len=st.integers(1, 40),
    dtype=st.sampled_from([np.uint16, np.uint32, np.int64]),
)
def test_an_epoch_visits_every_used_position_once(n: int, batch_size: int, seq_len: int, dtype: type):
    ids = np.arange(n, dtype=dtype)  # id == position in the text
    if n < batch_size * seq_len + 1:
        with pytest.raises(CorpusError, match=rf"needs at least {batch_size * seq_len + 1}:"):
            stream_layout(ids, batch_size, seq_len)
        return
    layout = stream_layout(ids, batch_size, seq_len)
    windows = [layout.window(k) for k in range(layout.windows_per_epoch)]
    widths = [x.shape[1] for x, _ in windows]
    assert all(x.shape == y.shape == (batch_size, w) for (x, y), w in zip(windows, widths, strict=True))
    assert all(w == seq_len for w in widths[:-1]) and 1 <= widths[-1] <= seq_len

    # Every used position is an input exactly once, the used positions are a prefix of the text,
    # and fewer than batch_size characters after the last target are left out.
    seen = np.concatenate([x.ravel() for x, _ in windows]).astype(np.int64)
    assert np.array_equal(np.sort(seen), np.arange(len(seen)))
    assert len(seen) % batch_size == 0
    assert 0 <= n - 1 - len(seen) < batch_size

    # Targets are the next character of the text.
    for x, y in windows:
        assert np.array_equal(y, ids[x.astype(np.int64) + 1])

    # Row b of window k+1 continues row b of window k: each row is one contiguous stream, and
    # the streams follow each other through the text.
    rows = np.concatenate([x for x, _ in windows], axis=1).astype(np.int64)
    stream_len = len(seen) // batch_size
    expected_rows = np.arange(len(seen)).reshape(batch_size, stream_len)
    assert np.array_equal(rows, expected_rows)
    for (x_now, _), (x_next, _) in zip(windows, windows[1:], strict=False):
        assert np.array_equal(x_now[:, -1].astype(np.int64) + 1, x_next[:, 0])


# --- streamed evaluation -----------------------------------------------------------------------

VOCAB_SIZE = 7


@cache
def tiny_model(cell: str) -> CharRNN:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=VOCAB_SIZE, cell=cell, num_layers=2, hidden_size=8, embed_size=4)
    return CharRNN(config).eval()


def direct_loss(model: CharRNN, ids: np.ndarray) -> float:
    """The summed loss of one forward pass over the whole text, without the scorer."""
    seq = torch.from_numpy(ids.astype(np.int64))
    with torch.no_grad():
        logits, _ = model(seq[None, :-1])
        return float(F.cross_entropy(logits[0], seq[1:], reduction="sum"))


@settings(PROPERTY, max_examples=60)
@given(
    cell=st.sampled_from(CELLS),
    length=st.integers(0, 300),
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from([np.uint8, np.uint16, np.int64]),
    chunk_len=st.one_of(st.integers(1, 8), st.integers(1, 400)),
    cut_points=st.lists(st.integers(0, 300), max_size=8),
)
def test_streamed_loss_does_not_depend_on_chunks_or_pieces(
    cell: str, length: int, seed: int, dtype: type, chunk_len: int, cut_points: list[int]
):
    model = tiny_model(cell)
    text = np.random.default_rng(seed).integers(0, VOCAB_SIZE, length).astype(dtype)
    cuts = [0, *sorted(min(c, length) for c in cut_points), length]  # empty pieces too
    scorer = TextScorer(model, CPU, "fp32", chunk_len)
    for start, end in zip(cuts, cuts[1:], strict=False):
        scorer.feed(text[start:end])
    assert not model.training
    if length < 2:
        with pytest.raises(ValueError):
            scorer.report()
        return
    report = scorer.report()
    assert report.num_predicted == length - 1
    assert report.total_nats == pytest.approx(direct_loss(model, text), rel=1e-5)


@PROPERTY
@given(text=TEXT, chunk_bytes=st.one_of(st.integers(1, 8), st.integers(1, 200)))
def test_text_read_in_chunks_is_the_files_text(
    tmp_path_factory: pytest.TempPathFactory, text: str, chunk_bytes: int
):
    path = tmp_path_factory.getbasetemp() / "chunks.txt"
    path.write_bytes(text.encode("utf-8"))
    for size in sorted({1, 2, 3, 4, chunk_bytes}):  # the smallest sizes split every multi-byte character
        pieces = list(read_text_chunks(str(path), size))
        assert "".join(pieces) == without_bom(text)
        assert all(pieces)


# Bytes that never occur in UTF-8, stray continuation bytes, truncated and overlong sequences,
# encoded surrogates, code points past U+10FFFF, half a byte-order mark.
BAD_BYTES = [b"\x80", b"\xbf", b"\xc0", b"\xc1", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x9f"]
BAD_BYTES += [b"\xf4\x90", b"\xf5", b"\xfe", b"\xff", b"\xef\xbb", b"\xe0\x80\x80"]
BYTES = st.lists(
    st.one_of(TEXT.map(lambda t: t.encode("utf-8")), st.sampled_from(BAD_BYTES), st.binary(max_size=3)),
    max_size=8,
).map(b"".join)


@settings(PROPERTY, max_examples=200)
@given(data=BYTES.filter(lambda d: not d.startswith(tuple(NOT_TEXT))))
def test_an_invalid_byte_is_reported_at_the_same_offset_for_any_chunk_size(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
):
    path = tmp_path_factory.getbasetemp() / "bytes.txt"
    path.write_bytes(data)
    try:
        expected_text = without_bom(data.decode("utf-8"))
        offset = None
    except UnicodeDecodeError as e:
        offset, byte = e.start, data[e.start]
    for chunk_bytes in range(1, len(data) + 2):
        if offset is None:
            assert "".join(read_text_chunks(str(path), chunk_bytes)) == expected_text
        else:
            message = rf"not valid UTF-8: byte 0x{byte:02x} at byte offset {offset}$"
            with pytest.raises(CorpusError, match=message):
                "".join(read_text_chunks(str(path), chunk_bytes))


@settings(PROPERTY, max_examples=50)
@given(magic=st.sampled_from(sorted(NOT_TEXT)), rest=BYTES, chunk_bytes=st.integers(1, 12))
@example(magic=b"\x1f\x8b", rest=b"\x08\x00", chunk_bytes=1)
def test_a_non_text_file_is_diagnosed_whatever_the_chunk_size(
    tmp_path_factory: pytest.TempPathFactory, magic: bytes, rest: bytes, chunk_bytes: int
):
    data = magic + b"\xff" + rest  # 0xff never occurs in UTF-8: the file cannot decode
    path = tmp_path_factory.getbasetemp() / "not_text.bin"
    path.write_bytes(data)
    with pytest.raises(CorpusError, match=re.escape(f"is not UTF-8 text: it looks {NOT_TEXT[magic]}")):
        "".join(read_text_chunks(str(path), chunk_bytes))
