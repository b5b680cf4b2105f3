"""Multiplicative recurrent layers: Sutskever, Martens & Hinton's mRNN (2011) and Krause et al.'s
multiplicative LSTM (2016). In both the input character chooses, through factors, the
transition applied to the previous hidden state:

    mRNN:   f_t = (W_fx x_t) ⊙ (W_fh h_{t-1})          h_t = tanh(W_hf f_t + W_hx x_t + b)
    mLSTM:  m_t = (W_mx x_t) ⊙ (W_mh h_{t-1})          i, f, o, g = W_x x_t + W_m m_t + b
            c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)      h_t = σ(o) ⊙ tanh(c_t)

Everything that depends on the input alone (W_fx x, W_hx x + b; W_mx x, W_x x + b) is one matrix
product over the whole window; only the recurrent part runs per step. Layers stack as
`MultiplicativeStack`, which takes and returns states shaped like nn.LSTM's: (L, B, H) tensors.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _uniform_(*params: torch.Tensor, fan_in: int) -> None:
    bound = 1.0 / math.sqrt(fan_in)
    for p in params:
        nn.init.uniform_(p, -bound, bound)


class MRNNLayer(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, factors: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.w_fx = nn.Parameter(torch.empty(factors, input_size))
        self.w_fh = nn.Parameter(torch.empty(factors, hidden_size))
        self.w_hf = nn.Parameter(torch.empty(hidden_size, factors))
        self.w_hx = nn.Parameter(torch.empty(hidden_size, input_size))
        self.bias = nn.Parameter(torch.zeros(hidden_size))
        _uniform_(self.w_fx, self.w_hx, fan_in=input_size)
        _uniform_(self.w_fh, fan_in=hidden_size)
        _uniform_(self.w_hf, fan_in=factors)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, In), h (B, H) → outputs (B, T, H), last h."""
        fx = x @ self.w_fx.T  # (B, T, F)
        hx = torch.addmm(self.bias, x.flatten(0, 1), self.w_hx.T).view(
            x.shape[0], x.shape[1], -1
        )  # (B, T, H)
        w_fh, w_hf = self.w_fh.T, self.w_hf.T
        outputs = []
        # unbind, not fx[:, t]: each indexing op's backward would build a whole (B, T, F) gradient.
        for fx_t, hx_t in zip(fx.unbind(1), hx.unbind(1), strict=True):
            f = fx_t * (h @ w_fh)  # (B, F)
            h = torch.tanh(torch.addmm(hx_t, f, w_hf))  # (B, H)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h


class MLSTMLayer(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, factors: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.w_mx = nn.Parameter(torch.empty(factors, input_size))
        self.w_mh = nn.Parameter(torch.empty(factors, hidden_size))
        self.w_x = nn.Parameter(torch.empty(4 * hidden_size, input_size))  # gates i, f, g, o
        self.w_m = nn.Parameter(torch.empty(4 * hidden_size, factors))
        self.bias = nn.Parameter(torch.zeros(4 * hidden_size))
        _uniform_(self.w_mx, self.w_x, fan_in=input_size)
        _uniform_(self.w_mh, fan_in=hidden_size)
        _uniform_(self.w_m, fan_in=factors)
        with torch.no_grad():
            self.bias[hidden_size : 2 * hidden_size].fill_(1.0)  # forget-gate bias 1, as for the LSTM

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, In), h and c (B, H) → outputs (B, T, H), last h, last c."""
        mx = x @ self.w_mx.T  # (B, T, M)
        gx = torch.addmm(self.bias, x.flatten(0, 1), self.w_x.T).view(
            x.shape[0], x.shape[1], -1
        )  # (B, T, 4H)
        w_mh, w_m = self.w_mh.T, self.w_m.T
        outputs = []
        for mx_t, gx_t in zip(mx.unbind(1), gx.unbind(1), strict=True):
            m = mx_t * (h @ w_mh)  # (B, M)
            gates = torch.addmm(gx_t, m, w_m)  # (B, 4H)
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h, c


class MultiplicativeStack(nn.Module):
    """`num_layers` mRNN or mLSTM layers with dropout between them, nn.LSTM's calling convention."""

    def __init__(
        self, cell: str, input_size: int, hidden_size: int, num_layers: int, factors: int, dropout: float
    ) -> None:
        super().__init__()
        layer = MRNNLayer if cell == "mrnn" else MLSTMLayer
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.layers = nn.ModuleList(layer(n, hidden_size, factors) for n in sizes)
        self.dropout = nn.Dropout(dropout)
        self.lstm_like = cell == "mlstm"

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """x (B, T, In), state of (L, B, H) tensors ((h,) or (h, c)) → (B, T, H), new state."""
        last_h, last_c = [], []
        for k, layer in enumerate(self.layers):
            if k > 0:
                x = self.dropout(x)
            if self.lstm_like:
                x, h, c = layer(x, state[0][k], state[1][k])
                last_c.append(c)
            else:
                x, h = layer(x, state[0][k])
            last_h.append(h)
        new_state = (torch.stack(last_h),) + ((torch.stack(last_c),) if self.lstm_like else ())
        return x, new_state
