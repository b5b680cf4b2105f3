"""One recurrent step per character, laid out for batch-1 latency (sampling's hot path).

nn.LSTM/GRU/RNN are built for whole sequences; calling them once per character pays module,
dispatcher and layout overhead on every step (~5-10 µs per torch op, a dozen ops per layer).
A NumpyStepper copies the weights once into NumPy float32 arrays and plans the step once, as a flat
list of NumPy calls on buffers allocated up front (each call ~1 µs of overhead; the BLAS
matrix-vector products read the weights at the machine's bandwidth; bench/sample_speed.py has
the figures). The plan spends as few calls as the arithmetic allows:

- the embedding is folded into the first layer's input projection: a (V, G) table, so the
  first layer's input term is one row lookup instead of an embedding plus a matrix product;
- one product a layer: as soon as layer k's new h is known, one matrix-vector product gives
  both the input term of the layer above (above the top layer: the logits) and layer k's own
  recurrent term for the next step; a GRU's two terms stay apart (its candidate gate scales
  the recurrent one alone by r);
- every layer's hidden state has a slot, [h, 1, 0, ...] padded to a multiple of 16 floats:
  the biases are a column of the weights (no bias adds), a product reads the slot where it
  lies (no copies), and rows stay 64-byte aligned (OpenBLAS also threads a product
  only above a size that, e.g., a 384-wide GRU layer just missed unpadded);
- the sigmoid gates' rows are negated in the weights (exact), so that the product holds -x and
  a gate is 1 / d with d = 1 + exp(-x) (NumPy's exp is vectorised, its tanh is not); a gate
  only ever multiplies, so each product by it is a division by d; the LSTM's gates are
  reordered (i, f, o, g) so that one exp covers three of them; -x is capped at EXP_CAP first,
  so that exp never overflows (cheaper than a per-step np.errstate: ~0.6 µs a layer
  against ~4 µs a step, measured on a 2x384 GRU).

The arithmetic is float32 throughout: the logits equal a full-sequence forward pass to ~1e-6.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch

from charrnn.model.config import MULTIPLICATIVE
from charrnn.model.network import READ_CHUNK, CharRNN, read_through
from charrnn.runtime import ids_to_device

Array = np.ndarray
Call = tuple[Callable[..., Any], tuple[Any, ...]]  # one planned call: f(*args)
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
SIGMOID_GATES = {"lstm": 3, "gru": 2, "rnn": 0}  # the leading gates (after reordering)
ALIGN = 16  # floats: 64 bytes
# -x above this is capped: a gate shut to 1 / (1 + e^80) ≈ 1.8e-35 instead of less (a float32
# normal; e^88.7 would overflow, and a denormal gate slows every product by it).
EXP_CAP = np.float32(80)


def _numpy(t: torch.Tensor) -> Array:
    return np.ascontiguousarray(t.detach().float().cpu().numpy())


def _product(w: Array, x: Array, out: Array) -> Call:
    """out (B, N) = x (B, K) @ w (N, K)ᵀ, planned once.

    At batch 1 NumPy's BLAS matrix-vector product (~1 µs of overhead, full memory bandwidth);
    above, torch's matrix product on zero-copy views of the same buffers (OpenBLAS repacks the
    whole weight matrix on every small-batch call and is several times slower there).
    """
    if x.shape[0] == 1:
        return np.dot, (w, x[0], out[0])
    w_t = torch.from_numpy(np.ascontiguousarray(w.T))  # (K, N): a transposed view is ~4× slower
    return partial(torch.mm, torch.from_numpy(x), w_t, out=torch.from_numpy(out)), ()


class NumpyStepper:
    """Advance B independent streams by one character per `step()`; state carried inside."""

    def __init__(self, model: CharRNN, batch_size: int) -> None:
        cfg = model.config
        self.cell, h, b, layers = cfg.cell, cfg.hidden_size, batch_size, cfg.num_layers
        self.hidden = h
        self.slot = -(-(h + 1) // ALIGN) * ALIGN  # [h, 1, 0, ...]
        g = GATES[cfg.cell] * h
        rnn = model.recurrent
        self.blocks = self._gate_blocks(cfg.cell, h)
        self.negated = SIGMOID_GATES[cfg.cell] * h

        def param(name: str, k: int) -> Array:
            return _numpy(getattr(rnn, f"{name}_l{k}"))

        # The input term of layer 0, biases in; a GRU's recurrent bias stays with its recurrent
        # term (its candidate gate scales W_hn h + b_hn by r), an LSTM/RNN's is added here.
        table = _numpy(model.embedding.weight) @ param("weight_ih", 0).T + param("bias_ih", 0)  # (V, G)
        if cfg.cell != "gru":
            table += param("bias_hh", 0)
        self.input_table = np.ascontiguousarray(self._gated(np.empty_like(table.T), table.T).T)
        self.rows = np.empty((b, g), dtype=np.float32)
        self.state = np.zeros((layers, b, self.slot), dtype=np.float32)  # a slot: (B, slot), contiguous
        self.state[:, :, h] = 1  # each slot's constant 1
        self.h = [self.state[k, :, :h] for k in range(layers)]
        self.c = [np.zeros((b, h), dtype=np.float32) for _ in range(layers)] if cfg.cell == "lstm" else []
        self.tmp = np.empty((b, h), dtype=np.float32)
        self.one = np.ones((b, g), dtype=np.float32)
        # Layer k's product, once its new h is known: the input term of the layer above (the
        # logits, above the top layer) and its own recurrent term for the next step, stacked.
        self.outputs: list[Array] = []
        self.product_calls: list[Call] = []
        for k in range(layers):
            top = k == layers - 1
            above = len(model.head.weight) if top else g
            weights = np.zeros((above + g, self.slot), dtype=np.float32)  # [w, bias, 0, ...] rows
            if top:
                self._slotted(weights[:above], _numpy(model.head.weight), _numpy(model.head.bias))
            else:
                self._slotted(weights[:above], param("weight_ih", k + 1), param("bias_ih", k + 1), gated=True)
            recurrent_bias = param("bias_hh", k) if k > 0 or cfg.cell == "gru" else np.zeros(g, np.float32)
            self._slotted(weights[above:], param("weight_hh", k), recurrent_bias, gated=True)
            self.outputs.append(np.empty((b, above + g), dtype=np.float32))
            self.product_calls.append(_product(weights, self.state[k], self.outputs[k]))
        self.logits = self.outputs[-1][:, : cfg.vocab_size]
        plan = {"gru": self._plan_gru, "lstm": self._plan_lstm, "rnn": self._plan_rnn}[cfg.cell]
        self.program: list[Call] = []
        for k in range(layers):
            gi = self.rows if k == 0 else self.outputs[k - 1][:, :g]
            gh = self.outputs[k][:, -g:]
            self.program += [*plan(k, gi, gh), self.product_calls[k]]
        self.load_state(tuple(torch.zeros(layers, b, h) for _ in range(2)))  # h = c = 0

    @staticmethod
    def _gate_blocks(cell: str, h: int) -> list[tuple[int, int, int]]:
        """The gate rows as (to, from, count) blocks: an LSTM's (i, f, g, o) → (i, f, o, g), so that
        its sigmoid gates lead; the others' unchanged."""
        if cell == "lstm":
            return [(0, 0, 2 * h), (2 * h, 3 * h, h), (3 * h, 2 * h, h)]
        return [(0, 0, GATES[cell] * h)]

    def _gated(self, out: Array, a: Array) -> Array:
        """out ← a (G, ...) with its gate rows reordered and the sigmoid gates' negated, so that a
        product by it holds -x for them; out may be a view (e.g. a slot's columns)."""
        for to, source, count in self.blocks:
            out[to : to + count] = a[source : source + count]
        np.negative(out[: self.negated], out=out[: self.negated])
        return out

    def _slotted(self, out: Array, w: Array, bias: Array, gated: bool = False) -> None:
        """out (N, slot) ← [w, bias, 0, ...]: (N, H) weights and their bias laid out as a slot,
        written in place (each weight copied once), gate rows as `_gated` orders them."""
        h = self.hidden
        if gated:
            self._gated(out[:, :h], w), self._gated(out[:, h], bias)
        else:
            out[:, :h], out[:, h] = w, bias

    def _plan_gru(self, k: int, gi: Array, gh: Array) -> list[Call]:
        """d = 1 + exp(-x) for r, z; n = tanh(gi_n + gh_n / d_r); h' = n + (h - n) / d_z."""
        h, hk = self.hidden, self.h[k]
        rz, d_r, d_z, n = gh[:, : 2 * h], gh[:, :h], gh[:, h : 2 * h], gh[:, 2 * h :]
        return [
            (np.add, (gi[:, : 2 * h], rz, rz)),
            (np.fmin, (rz, EXP_CAP, rz)),
            (np.exp, (rz, rz)),
            (np.add, (rz, self.one[:, : 2 * h], rz)),
            (np.divide, (n, d_r, n)),
            (np.add, (n, gi[:, 2 * h :], n)),
            (np.tanh, (n, n)),
            (np.subtract, (hk, n, hk)),
            (np.divide, (hk, d_z, hk)),
            (np.add, (hk, n, hk)),
        ]

    def _plan_lstm(self, k: int, gi: Array, gh: Array) -> list[Call]:
        """d = 1 + exp(-x) for i, f, o; c = c / d_f + g / d_i; h = tanh(c) / d_o."""
        h, c, tmp = self.hidden, self.c[k], self.tmp
        sig, cand = gh[:, : 3 * h], gh[:, 3 * h :]
        d_i, d_f, d_o = gh[:, :h], gh[:, h : 2 * h], gh[:, 2 * h : 3 * h]
        return [
            (np.add, (gh, gi, gh)),
            (np.fmin, (sig, EXP_CAP, sig)),
            (np.exp, (sig, sig)),
            (np.add, (sig, self.one[:, : 3 * h], sig)),
            (np.tanh, (cand, cand)),
            (np.divide, (c, d_f, c)),
            (np.divide, (cand, d_i, tmp)),
            (np.add, (c, tmp, c)),
            (np.tanh, (c, tmp)),
            (np.divide, (tmp, d_o, self.h[k])),
        ]

    def _plan_rnn(self, k: int, gi: Array, gh: Array) -> list[Call]:
        return [(np.add, (gh, gi, gh)), (np.tanh, (gh, self.h[k]))]

    def products(self) -> list[Call]:
        """The matrix products one step calls, in order (bench/sample_speed.py times them bare)."""
        return list(self.product_calls)

    def load_state(self, state: tuple[torch.Tensor, ...]) -> None:
        """Take the (num_layers, B, H) state of a full-sequence forward pass (e.g. after a prime),
        and price its recurrent terms for the first step."""
        for k, hk in enumerate(self.h):
            hk[:] = _numpy(state[0][k])
            if self.cell == "lstm":
                self.c[k][:] = _numpy(state[1][k])
        for f, args in self.product_calls:
            f(*args)

    def reorder(self, rows: Array) -> None:
        """Row b takes the state of row rows[b] (beam search: each hypothesis its parent's)."""
        self.state[:] = self.state[:, rows]
        for buffer in (*self.c, *self.outputs):  # outputs: the recurrent terms priced for the next step
            buffer[:] = buffer[rows]

    def step(self, ids: Array) -> Array:
        """ids (B,) → logits (B, V) of the next character; the returned array is reused."""
        if len(ids) == 1:
            np.copyto(self.rows[0], self.input_table[ids[0]])  # a third of np.take's cost
        else:
            np.take(self.input_table, ids, axis=0, out=self.rows)
        for f, args in self.program:
            f(*args)
        return self.logits


class TorchStepper:
    """The model's own forward pass over one character per step: for the multiplicative cells,
    whose per-step work is already a few small products (no fused library call to avoid)."""

    def __init__(self, model: CharRNN) -> None:
        self.model = model
        self.device = model.head.weight.device
        self.state: tuple[torch.Tensor, ...] | None = None

    def load_state(self, state: tuple[torch.Tensor, ...]) -> None:
        self.state = state

    def reorder(self, rows: Array) -> None:
        """Row b takes the state of row rows[b]."""
        assert self.state is not None
        index = torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(self.device)
        self.state = tuple(s[:, index] for s in self.state)

    @torch.no_grad()
    def step(self, ids: Array) -> Array:
        x = ids_to_device(ids, self.device)[:, None]  # (B, 1)
        logits, self.state = self.model(x, self.state)
        return logits[:, 0].float().cpu().numpy()  # (B, V)


def primed(
    model: CharRNN, prime_ids: Array, chunk: int = READ_CHUNK
) -> tuple[Array, tuple[torch.Tensor, ...]]:
    """The logits (1, V) after `prime_ids` (at least one id), read once as a sequence on the
    model's device, `chunk` characters at a time (memory of one chunk), and the state there."""
    with torch.no_grad():
        prime = torch.from_numpy(prime_ids.astype(np.int64)).to(model.head.weight.device)[None]
        logits, state = read_through(model, prime, chunk_len=chunk)
    return logits.float().cpu().numpy(), state


def make_stepper(
    model: CharRNN, batch_size: int, state: tuple[torch.Tensor, ...] | None = None
) -> NumpyStepper | TorchStepper:
    """The NumPy NumpyStepper where it knows the cell's layout (lstm, gru, rnn), else TorchStepper;
    every row at `state` (one row's, e.g. `primed`'s) where given, else at zero."""
    stepper = TorchStepper(model) if model.config.cell in MULTIPLICATIVE else NumpyStepper(model, batch_size)
    if state is not None:
        stepper.load_state(tuple(s.expand(-1, batch_size, -1).contiguous() for s in state))
    return stepper
