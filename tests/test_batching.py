import numpy as np
import pytest

from charrnn.data.batching import stream_layout
from charrnn.errors import CorpusError
from charrnn.train.start import start_run


def test_layout_matches_the_diagram():
    text = np.array([ord(c) for c in "abcdefghijklmnopqrstuvwxyz"], dtype=np.uint8)
    layout = stream_layout(text, batch_size=3, seq_len=3)
    as_str = lambda a: ["".join(map(chr, row)) for row in a]  # noqa: E731
    assert as_str(layout.inputs) == ["abcdefgh", "ijklmnop", "qrstuvwx"]
    assert as_str(layout.targets) == ["bcdefghi", "jklmnopq", "rstuvwxy"]
    assert layout.windows_per_epoch == 3
    assert as_str(layout.window(2)[0]) == ["gh", "op", "wx"]


def test_consecutive_windows_continue_each_stream():
    ids = np.arange(10_001, dtype=np.uint32)
    layout = stream_layout(ids, batch_size=7, seq_len=13)
    for k in range(layout.windows_per_epoch - 1):
        x_now, y_now = layout.window(k)
        x_next, _ = layout.window(k + 1)
        # the last input of window k is followed, in the text, by the first input of window k+1
        assert np.array_equal(x_now[:, -1] + 1, x_next[:, 0])
        assert np.array_equal(x_now + 1, y_now)


def test_each_used_character_is_visited_once_per_epoch():
    ids = np.arange(5_000, dtype=np.uint32)
    layout = stream_layout(ids, batch_size=6, seq_len=17)
    seen = np.concatenate([layout.window(k)[0].ravel() for k in range(layout.windows_per_epoch)])
    assert len(seen) == len(np.unique(seen)) == 6 * layout.stream_len
    assert len(ids) - 1 - len(seen) < 6


@pytest.mark.parametrize("batch_size,seq_len", [(1, 1), (8, 50), (64, 100)])
def test_the_validation_text_does_not_depend_on_the_batch_shape(make_config, tmp_path, batch_size, seq_len):
    """Split first, batch second: char-rnn took the validation part after cutting the text into
    batches, so it changed with --batch-size."""
    corpus = tmp_path / "long.txt"
    corpus.write_text("".join(chr(97 + i % 26) + ("\n" if i % 61 == 0 else "") for i in range(20_000)))
    run = start_run(
        make_config(corpus=corpus, batch_size=batch_size, seq_len=seq_len),
        resume=False,
        init_from=None,
        force=False,
    )
    reference = start_run(make_config(corpus=corpus), resume=False, init_from=None, force=False)
    assert np.array_equal(run.val_ids, reference.val_ids)
    assert np.array_equal(run.val_ids, run.corpus.ids[-len(run.val_ids) :])


def test_too_short_for_one_window():
    with pytest.raises(CorpusError, match="too short for one window"):
        stream_layout(np.arange(100, dtype=np.uint8), batch_size=8, seq_len=20)
