import numpy as np
import pytest

from charrnn.data.batching import stream_layout
from charrnn.data.corpus import split_train_val
from charrnn.errors import CorpusError


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
def test_validation_text_does_not_depend_on_batch_shape(batch_size, seq_len):
    ids = np.arange(20_000, dtype=np.uint32)
    train, val = split_train_val(ids, 0.1)
    stream_layout(train, batch_size, seq_len)  # batching never touches the validation part
    assert val[0] == 18_000 and len(val) == 2_000


def test_too_short_for_one_window():
    with pytest.raises(CorpusError, match="too short for one window"):
        stream_layout(np.arange(100, dtype=np.uint8), batch_size=8, seq_len=20)
