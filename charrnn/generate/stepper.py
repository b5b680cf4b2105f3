"""One recurrent step per character, laid out for batch-1 latency (sampling's hot path).

nn.LSTM/GRU/RNN are built for whole sequences; calling them once per character pays module,
dispatcher and layout overhead on every step (~5-10 µs per torch op, a dozen ops per layer).
A Stepper copies the weights once into NumPy float32 arrays and steps with NumPy, whose
per-call overhead is ~1 µs and whose BLAS matrix-vector product reads the weights at the
machine's memory bandwidth on every core (bench/sample_speed.py has the figures):

- the embedding is folded into the first layer's input projection: a (V, G) table, so the
  first layer's input term is a row lookup instead of an embedding plus a matrix product;
- for the layers above, input and recurrent weights are concatenated, so each LSTM/RNN layer
  costs one matrix-vector product on [x, h] (GRU keeps them apart: its candidate gate scales
  the recurrent term alone by r);
- the LSTM gates are reordered (i, f, o, g) so that one sigmoid covers three of them;
- every intermediate lives in a buffer allocated once, and every slice of it is taken once;
  the step writes into them in place.

The arithmetic is float32 throughout: the logits equal a full-sequence forward pass to ~1e-6.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from charrnn.model.config import MULTIPLICATIVE
from charrnn.model.network import CharRNN
from charrnn.runtime import ids_to_device

Array = np.ndarray


def _numpy(t: torch.Tensor) -> Array:
    return np.ascontiguousarray(t.detach().float().cpu().numpy())


def _sigmoid_(x: Array) -> None:
    """In place; sigmoid(x) = (1 + tanh(x / 2)) / 2, which never overflows."""
    np.multiply(x, 0.5, out=x)
    np.tanh(x, out=x)
    np.multiply(x, 0.5, out=x)
    np.add(x, 0.5, out=x)


class _Product:
    """out (B, N) = x (B, K) @ w (N, K)ᵀ on fixed buffers, planned once.

    At batch 1 NumPy's BLAS matrix-vector product (~1 µs of overhead, full memory bandwidth);
    above, torch's matrix product on zero-copy views of the same buffers (OpenBLAS repacks the
    whole weight matrix on every small-batch call and is several times slower there).
    """

    def __init__(self, w: Array, x: Array, out: Array) -> None:
        self.batched = x.shape[0] > 1
        self.w, self.x, self.out = w, x[0], out[0]
        if self.batched:  # (K, N) contiguous: a transposed view is ~4× slower in torch.mm
            self.w_t = torch.from_numpy(np.ascontiguousarray(w.T))
            self.x_t, self.out_t = torch.from_numpy(x), torch.from_numpy(out)

    def __call__(self) -> None:
        if self.batched:
            torch.mm(self.x_t, self.w_t, out=self.out_t)
        else:
            np.dot(self.w, self.x, out=self.out)


@dataclass
class _Layer:
    """One layer's buffers and planned products, all made once."""

    product: _Product  # LSTM/RNN: gates = [x, h] @ Wᵀ (layer 0: h @ W_hhᵀ); GRU: gi = x @ W_ihᵀ
    b: Array  # bias added after the product (layer 0 LSTM/RNN: folded into the input table)
    product_hh: _Product | None  # GRU only: gh = h @ W_hhᵀ
    b_hh: Array  # GRU only
    x: Array  # (B, H) this layer's input: the layer below's new h (layer 0: unused)
    h: Array  # (B, H) this layer's hidden state, a view into [x, h]
    c: Array  # (B, H) LSTM cell state


class Stepper:
    """Advance B independent streams by one character per `step()`; state carried inside."""

    def __init__(self, model: CharRNN, batch_size: int) -> None:
        cfg = model.config
        self.cell, self.hidden = cfg.cell, cfg.hidden_size
        h, b = cfg.hidden_size, batch_size
        rnn = model.recurrent
        gates_per_layer = {"lstm": 4, "gru": 3, "rnn": 1}[cfg.cell]
        g = gates_per_layer * h
        order = self._gate_order(h, gates_per_layer)

        def weight(name: str, k: int) -> Array:
            return _numpy(getattr(rnn, f"{name}_l{k}"))[order]

        w_ih = [weight("weight_ih", k) for k in range(cfg.num_layers)]
        w_hh = [weight("weight_hh", k) for k in range(cfg.num_layers)]
        b_ih = [weight("bias_ih", k) for k in range(cfg.num_layers)]
        b_hh = [weight("bias_hh", k) for k in range(cfg.num_layers)]
        # GRU keeps the recurrent bias apart: its candidate gate scales (W_hn h + b_hn) by r.
        table = _numpy(model.embedding.weight) @ w_ih[0].T + b_ih[0]  # (V, G)
        if cfg.cell != "gru":
            table += b_hh[0]
        self.input_table = np.ascontiguousarray(table, dtype=np.float32)
        self.gates = np.empty((b, g), dtype=np.float32)
        self.gates_h = np.empty((b, g), dtype=np.float32)  # GRU's recurrent part; LSTM/RNN scratch
        self.tmp = np.empty((b, h), dtype=np.float32)
        self.layers: list[_Layer] = []
        for k in range(cfg.num_layers):
            xh = np.zeros((b, 2 * h), dtype=np.float32)  # [x, h]
            x, h_view = xh[:, :h], xh[:, h:]
            gru = cfg.cell == "gru"
            if gru:
                product, bias = _Product(w_ih[k], x, self.gates), b_ih[k]
            elif k == 0:
                product, bias = _Product(w_hh[0], h_view, self.gates), np.zeros(g, dtype=np.float32)
            else:
                w_cat = np.ascontiguousarray(np.concatenate([w_ih[k], w_hh[k]], axis=1))
                product, bias = _Product(w_cat, xh, self.gates), b_ih[k] + b_hh[k]
            self.layers.append(
                _Layer(
                    product=product,
                    b=bias,
                    product_hh=_Product(w_hh[k], h_view, self.gates_h) if gru else None,
                    b_hh=b_hh[k],
                    x=x,
                    h=h_view,
                    c=np.zeros((b, h), dtype=np.float32),
                )
            )
        self.logits = np.empty((b, cfg.vocab_size), dtype=np.float32)
        self.head = _Product(_numpy(model.head.weight), self.layers[-1].h, self.logits)
        self.b_out = _numpy(model.head.bias)
        # Views of the gate buffers, taken once.
        gt, gh = self.gates, self.gates_h
        if cfg.cell == "lstm":
            self.sig, self.cand = gt[:, : 3 * h], gt[:, 3 * h :]
            self.i_gate, self.f_gate, self.o_gate = gt[:, :h], gt[:, h : 2 * h], gt[:, 2 * h : 3 * h]
        if cfg.cell == "gru":
            self.gh_rz, self.gh_n = gh[:, : 2 * h], gh[:, 2 * h :]
            self.r_gate, self.z_gate = gh[:, :h], gh[:, h : 2 * h]

    @staticmethod
    def _gate_order(h: int, gates_per_layer: int) -> Array:
        """Row order of the gate weights: LSTM (i, f, g, o) → (i, f, o, g); others unchanged."""
        if gates_per_layer == 4:
            return np.concatenate([np.arange(0, 2 * h), np.arange(3 * h, 4 * h), np.arange(2 * h, 3 * h)])
        return np.arange(gates_per_layer * h)

    def products(self) -> list[_Product]:
        """The matrix products one step calls, in order (bench/sample_speed.py times them bare)."""
        products = []
        for k, layer in enumerate(self.layers):
            if self.cell != "gru" or k > 0:  # a GRU's first input term is a table lookup
                products.append(layer.product)
            if layer.product_hh is not None:
                products.append(layer.product_hh)
        return [*products, self.head]

    def load_state(self, state: tuple[torch.Tensor, ...]) -> None:
        """Take the (num_layers, B, H) state of a full-sequence forward pass (e.g. after a prime)."""
        for k, layer in enumerate(self.layers):
            layer.h[:] = _numpy(state[0][k])
            if k + 1 < len(self.layers):
                self.layers[k + 1].x[:] = layer.h
            if self.cell == "lstm":
                layer.c[:] = _numpy(state[1][k])

    def _input_rows(self, ids: Array, out: Array) -> Array:
        """The first layer's input term for each stream: rows of the folded table."""
        if len(ids) == 1:
            return self.input_table[int(ids[0])][None]  # a view: no copy at batch 1
        np.take(self.input_table, ids, axis=0, out=out)
        return out

    def step(self, ids: Array) -> Array:
        """ids (B,) → logits (B, V) of the next character; the returned array is reused."""
        for k, layer in enumerate(self.layers):
            if self.cell == "gru":
                self._gru(k, layer, ids)
            else:
                self._lstm_or_rnn(k, layer, ids)
            if k + 1 < len(self.layers):
                self.layers[k + 1].x[:] = layer.h
        self.head()
        self.logits += self.b_out
        return self.logits

    def _lstm_or_rnn(self, k: int, layer: _Layer, ids: Array) -> None:
        gates = self.gates
        if k == 0:
            layer.product()
            gates += self._input_rows(ids, self.gates_h)
        else:
            layer.product()
            gates += layer.b
        if self.cell == "rnn":
            np.tanh(gates, out=layer.h)
            return
        _sigmoid_(self.sig)
        np.tanh(self.cand, out=self.cand)
        c, tmp = layer.c, self.tmp
        c *= self.f_gate
        np.multiply(self.i_gate, self.cand, out=tmp)
        c += tmp
        np.tanh(c, out=tmp)
        np.multiply(self.o_gate, tmp, out=layer.h)

    def _gru(self, k: int, layer: _Layer, ids: Array) -> None:
        if k == 0:
            gi = self._input_rows(ids, self.gates)
        else:
            gi = self.gates
            layer.product()
            gi += layer.b
        assert layer.product_hh is not None
        layer.product_hh()
        self.gates_h += layer.b_hh
        # r, z = sigmoid(gi_rz + gh_rz); n = tanh(gi_n + r * gh_n); h' = n + z (h - n)
        h = self.hidden
        np.add(gi[:, : 2 * h], self.gh_rz, out=self.gh_rz)
        _sigmoid_(self.gh_rz)
        n = self.gh_n
        n *= self.r_gate
        n += gi[:, 2 * h :]
        np.tanh(n, out=n)
        layer.h -= n
        layer.h *= self.z_gate
        layer.h += n


class TorchStepper:
    """The model's own forward pass over one character per step: for the multiplicative cells,
    whose per-step work is already a few small products (no fused library call to avoid)."""

    def __init__(self, model: CharRNN) -> None:
        self.model = model
        self.device = model.head.weight.device
        self.state: tuple[torch.Tensor, ...] | None = None

    def load_state(self, state: tuple[torch.Tensor, ...]) -> None:
        self.state = state

    @torch.no_grad()
    def step(self, ids: Array) -> Array:
        x = ids_to_device(ids, self.device)[:, None]  # (B, 1)
        logits, self.state = self.model(x, self.state)
        return logits[:, 0].float().cpu().numpy()  # (B, V)


def make_stepper(model: CharRNN, batch_size: int) -> Stepper | TorchStepper:
    """The NumPy Stepper where it knows the cell's layout (lstm, gru, rnn), else TorchStepper."""
    if model.config.cell in MULTIPLICATIVE:
        return TorchStepper(model)
    return Stepper(model, batch_size)
