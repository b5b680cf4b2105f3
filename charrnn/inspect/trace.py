"""A text run through a model with every layer's state kept at every character: the activations.

nn.LSTM, nn.GRU and nn.RNN return only the last layer's outputs, and nn.LSTM never the cell state
c of each step. So each layer runs on its own, as a one-layer copy of itself (the same fused
kernel, the same weights) over a chunk of the text, its output feeding the layer above; the
state carries from chunk to chunk, so a text of any length is read exactly as `charrnn score`
reads it (after the start of a line, every character predicted), a chunk of tensors at a time.

The cell state of an LSTM or mLSTM layer is recovered from its outputs without a per-step loop:
with the outputs h known at every step, every gate is one matrix product over the whole chunk,
and c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t is a linear recurrence (`linear_scan`). Tests hold the
result to the layer's own final state and to a naive per-step cell.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from charrnn.model.cells import MLSTMLayer, MRNNLayer, MultiplicativeStack
from charrnn.model.network import CharRNN, eval_mode
from charrnn.runtime import ids_to_device

CHUNK_LEN = 1024  # characters whose activations are tensors at a time

# One layer over one chunk: input (T, In) and its state ((1, H) tensors: (h,) or (h, c)) →
# outputs h (T, H), cell states c (T, H) or None, and the state after the chunk.
LayerRun = Callable[
    [torch.Tensor, tuple[torch.Tensor, ...]],
    tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, ...]],
]


@dataclass(frozen=True)
class TraceChunk:
    start: int  # the text position of the chunk's first character
    activations: torch.Tensor  # (T, N) every column of UnitLayout after each character; c unsquashed
    log_probs: torch.Tensor  # (T, V) log p(each character | the text before it), float32


def linear_scan(f: torch.Tensor, u: torch.Tensor, c0: torch.Tensor) -> torch.Tensor:
    """c_t = f_t ⊙ c_{t-1} + u_t for t = 0…T-1, from c_{-1} = c0; f and u (T, H) → c (T, H).

    In blocks of about √T steps: each block is scanned from zero, all blocks side by side (√T
    vectorised steps), while the product of its f's is kept; then each block's true start is
    carried across the blocks (√T small steps) and added in, scaled by those products. No
    division, so a product that underflows to 0 is exactly what it should be.
    """
    steps, width = f.shape
    block = max(1, math.isqrt(steps))
    blocks = -(-steps // block)
    pad = blocks * block - steps
    f = torch.cat([f, f.new_ones(pad, width)]).view(blocks, block, width)
    u = torch.cat([u, u.new_zeros(pad, width)]).view(blocks, block, width)
    local, decay = torch.empty_like(u), torch.empty_like(f)
    c, a = u.new_zeros(blocks, width), f.new_ones(blocks, width)
    for j in range(block):
        c = torch.addcmul(u[:, j], f[:, j], c, out=local[:, j])
        a = torch.mul(a, f[:, j], out=decay[:, j])
    starts = torch.empty(blocks, width, dtype=u.dtype, device=u.device)
    carry = c0
    for b in range(blocks):
        starts[b] = carry
        carry = torch.addcmul(local[b, -1], decay[b, -1], carry)
    return torch.addcmul(local, decay, starts[:, None, :]).view(-1, width)[:steps]


def _cell_states(gates: torch.Tensor, c0: torch.Tensor) -> torch.Tensor:
    """Cell states (T, H) from the pre-activation gates i, f, g (T, 3H), PyTorch's order; the
    output gate o, last, is never needed (so its quarter of the products is never made)."""
    i, f, g = gates.chunk(3, dim=1)
    return linear_scan(torch.sigmoid(f), torch.sigmoid(i) * torch.tanh(g), c0)


_ONE_LAYER: dict[str, Callable[..., nn.RNNBase]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def _one_layer_copy(stack: nn.RNNBase, cell: str, k: int, input_size: int) -> nn.RNNBase:
    """Layer k of an nn.LSTM/GRU/RNN stack as a one-layer module of the same kind and weights."""
    one = _ONE_LAYER[cell](input_size, stack.hidden_size, batch_first=True)
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    one.load_state_dict({f"{n}_l0": stack.get_parameter(f"{n}_l{k}") for n in names})
    one.to(stack.get_parameter("weight_hh_l0").device)  # beside the model (a GPU, say)
    one.eval()
    return one


def _fused_run(layer: nn.RNNBase, lstm: bool) -> LayerRun:
    ifg = slice(0, 3 * layer.hidden_size)  # the rows of the gates i, f, g
    w_ih, w_hh = layer.get_parameter("weight_ih_l0")[ifg], layer.get_parameter("weight_hh_l0")[ifg]
    bias = (layer.get_parameter("bias_ih_l0") + layer.get_parameter("bias_hh_l0"))[ifg]

    def run(x: torch.Tensor, state: tuple[torch.Tensor, ...]):
        if not lstm:
            out, h = layer(x[None], state[0][None])  # out (1, T, H)
            return out[0], None, (h[0],)
        out, (h, c) = layer(x[None], (state[0][None], state[1][None]))
        previous = torch.cat([state[0], out[0, :-1]])  # h_{t-1} (T, H)
        gates = torch.addmm(bias, x, w_ih.T).addmm_(previous, w_hh.T)  # (T, 3H)
        return out[0], _cell_states(gates, state[1][0]), (h[0], c[0])

    return run


def _mrnn_run(layer: MRNNLayer) -> LayerRun:
    def run(x: torch.Tensor, state: tuple[torch.Tensor, ...]):
        out, h = layer(x[None], state[0])
        return out[0], None, (h,)

    return run


def _mlstm_run(layer: MLSTMLayer) -> LayerRun:
    ifg = slice(0, 3 * layer.hidden_size)  # the rows of the gates i, f, g
    w_x, w_m, bias = layer.w_x[ifg], layer.w_m[ifg], layer.bias[ifg]

    def run(x: torch.Tensor, state: tuple[torch.Tensor, ...]):
        out, h, c = layer(x[None], state[0], state[1])
        previous = torch.cat([state[0], out[0, :-1]])  # h_{t-1} (T, H)
        m = (x @ layer.w_mx.T) * (previous @ layer.w_mh.T)  # (T, M)
        gates = torch.addmm(bias, x, w_x.T).addmm_(m, w_m.T)  # (T, 3H)
        return out[0], _cell_states(gates, state[1][0]), (h, c)

    return run


def _multiplicative_run(layer: nn.Module) -> LayerRun:
    if isinstance(layer, MLSTMLayer):
        return _mlstm_run(layer)
    assert isinstance(layer, MRNNLayer)
    return _mrnn_run(layer)


def layer_runs(model: CharRNN) -> list[LayerRun]:
    cfg = model.config
    if isinstance(model.recurrent, MultiplicativeStack):
        return [_multiplicative_run(layer) for layer in model.recurrent.layers]
    assert isinstance(model.recurrent, nn.RNNBase)
    sizes = [cfg.embed_size] + [cfg.hidden_size] * (cfg.num_layers - 1)
    return [
        _fused_run(_one_layer_copy(model.recurrent, cfg.cell, k, n), cfg.cell == "lstm")
        for k, n in enumerate(sizes)
    ]


@torch.no_grad()
def trace(
    model: CharRNN, ids: np.ndarray, device: torch.device, after: np.ndarray, chunk_len: int = CHUNK_LEN
) -> Iterator[TraceChunk]:
    """Every layer's state after each character of `ids`, and the model's log-probabilities for
    each character given those before it, one chunk at a time. The text is read after `after`
    (at least one id: the start of a line, say) from a zero state, carried across the whole text
    (no dropout); so even its first character is predicted."""
    if len(after) == 0:
        raise ValueError("a text is read after at least one character")
    runs = layer_runs(model)
    state = model.initial_state(1, device)  # (L, 1, H) each
    layers = [tuple(s[k] for s in state) for k in range(model.config.num_layers)]  # (1, H) each

    def read(piece: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Columns (T, N) after each character of `piece`, and log p(next character) (T, V)."""
        x = model.embedding(ids_to_device(piece, device))  # (T, E)
        columns = []
        for k, run in enumerate(runs):
            h, c, layers[k] = run(x, layers[k])
            columns += [c, h] if c is not None else [h]
            x = h
        return torch.cat(columns, dim=1), F.log_softmax(model.head(x).float(), dim=-1)

    with eval_mode(model):
        for start in range(0, len(after), chunk_len):
            _, log_probs = read(after[start : start + chunk_len])
        before = log_probs[-1:]  # (1, V): the prediction of the text's first character
        for start in range(0, len(ids), chunk_len):
            activations, log_probs = read(ids[start : start + chunk_len])
            yield TraceChunk(start, activations, torch.cat([before, log_probs[:-1]]))
            before = log_probs[-1:]
