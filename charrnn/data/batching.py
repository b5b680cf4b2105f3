"""Contiguous parallel streams for truncated backpropagation through time (TBPTT).

The training text is cut into `batch_size` contiguous streams, one per row. A step takes the
next `seq_len` columns of every row, so row b of window k+1 continues row b of window k and
the hidden state left by window k is the right state to start window k+1 from:

    training text:  a b c d e f g h i j k l m n o p q r s t u v w x y
                    |---- stream 0 ---|---- stream 1 ---|--- stream 2 --|

                          window 0   window 1   window 2
    stream 0 (row 0):     a b c      d e f      g h
    stream 1 (row 1):     i j k      l m n      o p
    stream 2 (row 2):     q r s      t u v      w x
                          ──state──▶ ──state──▶          (carried, detached)

Targets are the same layout shifted by one character (row 0 of window 0 predicts b c d).
Up to batch_size - 1 characters at the end of the text are unused in an epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from charrnn.errors import CorpusError


@dataclass(frozen=True)
class StreamLayout:
    inputs: np.ndarray  # (B, S) character ids; a view of the training text
    targets: np.ndarray  # (B, S) the next character of each input
    seq_len: int

    @property
    def batch_size(self) -> int:
        return self.inputs.shape[0]

    @property
    def stream_len(self) -> int:
        return self.inputs.shape[1]

    @property
    def windows_per_epoch(self) -> int:
        return math.ceil(self.stream_len / self.seq_len)

    def window(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and targets of window `index`, each (B, T); the last window may be shorter."""
        cols = slice(index * self.seq_len, (index + 1) * self.seq_len)
        return self.inputs[:, cols], self.targets[:, cols]


def stream_layout(train_ids: np.ndarray, batch_size: int, seq_len: int) -> StreamLayout:
    stream_len = (len(train_ids) - 1) // batch_size
    if stream_len < seq_len:
        raise CorpusError(
            f"the training text ({len(train_ids)} characters) is too short for one window of "
            f"--batch-size {batch_size} x --seq-len {seq_len}; "
            f"it needs at least {batch_size * seq_len + 1}: lower either option"
        )
    used = batch_size * stream_len
    inputs = train_ids[:used].reshape(batch_size, stream_len)
    targets = train_ids[1 : used + 1].reshape(batch_size, stream_len)
    return StreamLayout(inputs=inputs, targets=targets, seq_len=seq_len)
