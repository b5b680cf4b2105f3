"""The model: embedding → stacked recurrent layers (LSTM, GRU, tanh RNN, mRNN or mLSTM) → dropout → linear."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from charrnn.model.cells import MultiplicativeStack
from charrnn.model.config import MULTIPLICATIVE, ModelConfig

# A recurrent state is a tuple of (num_layers, B, hidden) tensors: (h, c) for an LSTM, (h,) otherwise.
State = tuple[torch.Tensor, ...]


_RECURRENT = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class CharRNN(nn.Module):
    """A stacked recurrent character language model; rebuildable from its config alone."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embed_size)
        # nn.LSTM/GRU/RNN run the whole stack in one fused oneDNN/cuDNN call and apply
        # `dropout` between layers; the extra nn.Dropout below covers the last layer's output.
        self.recurrent: nn.Module
        if config.cell in MULTIPLICATIVE:
            self.recurrent = MultiplicativeStack(
                config.cell,
                config.embed_size,
                config.hidden_size,
                config.num_layers,
                config.factor_size,
                config.dropout,
            )
        else:
            self.recurrent = _RECURRENT[config.cell](
                config.embed_size,
                config.hidden_size,
                num_layers=config.num_layers,
                dropout=config.dropout if config.num_layers > 1 else 0.0,
                batch_first=True,
            )
        self.output_dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        self._init_forget_gate_bias()

    def _init_forget_gate_bias(self) -> None:
        """A forget-gate bias of 1 lets gradients flow through time early in training (Gers 2000)."""
        if self.config.cell != "lstm":
            return
        h = self.config.hidden_size
        with torch.no_grad():
            for layer in range(self.config.num_layers):
                # PyTorch adds bias_ih and bias_hh; the gates are ordered input, forget, cell, output.
                getattr(self.recurrent, f"bias_ih_l{layer}")[h : 2 * h].fill_(1.0)
                getattr(self.recurrent, f"bias_hh_l{layer}")[h : 2 * h].fill_(0.0)

    def initial_state(self, batch_size: int, device: torch.device | None = None) -> State:
        cfg = self.config
        shape = (cfg.num_layers, batch_size, cfg.hidden_size)
        count = 2 if cfg.has_cell_state else 1
        return tuple(torch.zeros(shape, device=device) for _ in range(count))

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """ids (B, T) → logits (B, T, V) and the state after the last step."""
        x = self.embedding(ids)  # (B, T, E)
        if state is None:
            state = self.initial_state(ids.shape[0], ids.device)
        if self.config.cell in MULTIPLICATIVE:
            out, new_state = self.recurrent(x, state)  # out: (B, T, H)
        elif self.config.cell == "lstm":
            out, (h, c) = self.recurrent(x, (state[0], state[1]))  # out: (B, T, H)
            new_state = (h, c)
        else:
            out, h = self.recurrent(x, state[0])
            new_state = (h,)
        return self.head(self.output_dropout(out)), new_state  # (B, T, V)


READ_CHUNK = 4096  # characters of a text in one forward pass, where only where it ends is needed


def read_through(
    model: CharRNN, ids: torch.Tensor, state: State | None = None, chunk_len: int = READ_CHUNK
) -> tuple[torch.Tensor, State]:
    """ids (B, T), T >= 1, read `chunk_len` characters at a time with the state carried: the
    logits after the last character (B, V) and the state there. One forward pass over all of a
    long text would hold every step's activations at once; this holds one chunk's."""
    if ids.shape[1] == 0:
        raise ValueError("nothing to read")
    logits, state = model(ids[:, :chunk_len], state)  # (B, T', V)
    for start in range(chunk_len, ids.shape[1], chunk_len):
        logits, state = model(ids[:, start : start + chunk_len], state)
    return logits[:, -1], state


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """`model` in eval mode (no dropout) for the block, then back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def detach_state(state: State) -> State:
    """Cut the graph between windows: truncated BPTT keeps the values, not the history."""
    return tuple(t.detach() for t in state)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
