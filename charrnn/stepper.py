"""One recurrent step per character, laid out for latency (sampling's hot path).

nn.LSTM/GRU/RNN are built for whole sequences; calling them once per character pays module and
layout overhead on every step. A Stepper lays the weights out once:

- the embedding is folded into the first layer's input projection: a (V, G·H) table, so the
  first layer's input term is a row lookup instead of an embedding plus a matrix product;
- for the layers above, input and recurrent weights are concatenated, so each LSTM/RNN layer
  costs one matrix product on [x, h];
- the LSTM gates are reordered (i, f, o, g) so that one sigmoid covers three of them;
- every intermediate lives in a buffer allocated once; the step writes into them in place.
"""

from __future__ import annotations

import torch

from charrnn.model import CharRNN


class Stepper:
    """Advance B independent streams by one character per `step()`; state carried inside."""

    def __init__(self, model: CharRNN, batch_size: int) -> None:
        cfg = model.config
        self.cell, self.num_layers, self.hidden = cfg.cell, cfg.num_layers, cfg.hidden_size
        h, b = cfg.hidden_size, batch_size
        rnn = model.recurrent
        device = model.head.weight.device
        self.gates_per_layer = {"lstm": 4, "gru": 3, "rnn": 1}[cfg.cell]
        g = self.gates_per_layer * h
        with torch.no_grad():
            order = self._gate_order(h, device)
            w_ih = [getattr(rnn, f"weight_ih_l{k}").float()[order] for k in range(cfg.num_layers)]
            w_hh = [getattr(rnn, f"weight_hh_l{k}").float()[order] for k in range(cfg.num_layers)]
            b_ih = [getattr(rnn, f"bias_ih_l{k}").float()[order] for k in range(cfg.num_layers)]
            b_hh = [getattr(rnn, f"bias_hh_l{k}").float()[order] for k in range(cfg.num_layers)]
            # GRU keeps the recurrent bias apart: its candidate gate scales (W_hn h + b_hn) by r.
            fold_hh_bias = cfg.cell != "gru"
            self.input_table = model.embedding.weight.float() @ w_ih[0].T + b_ih[0]  # (V, G)
            if fold_hh_bias:
                self.input_table += b_hh[0]
            self.w_hh_t = [w.T.contiguous() for w in w_hh]  # (H, G) each
            self.b_hh = [bh.clone() for bh in b_hh]
            if cfg.cell == "gru":
                self.w_ih_t = [w.T.contiguous() for w in w_ih]  # (H_in, G)
                self.b_ih = [bi.clone() for bi in b_ih]
            else:  # one product on [x, h] for the layers above the first
                self.w_cat_t = [
                    torch.cat([w_ih[k], w_hh[k]], dim=1).T.contiguous() for k in range(cfg.num_layers)
                ]  # (2H, G); index 0 unused
                self.b_cat = [b_ih[k] + b_hh[k] for k in range(cfg.num_layers)]
            self.w_out_t = model.head.weight.float().T.contiguous()  # (H, V)
            self.b_out = model.head.bias.float().clone()
        # [x, h] per layer: the layer below writes its new h into x, the layer writes its own into h.
        self.xh = [torch.zeros(b, 2 * h, device=device) for _ in range(cfg.num_layers)]
        self.c = [torch.zeros(b, h, device=device) for _ in range(cfg.num_layers)]
        self.gates = torch.empty(b, g, device=device)
        self.gates_h = torch.empty(b, g, device=device)  # GRU's recurrent part
        self.tmp = torch.empty(b, h, device=device)
        self.logits = torch.empty(b, self.w_out_t.shape[1], device=device)

    def _gate_order(self, h: int, device: torch.device) -> torch.Tensor:
        """Row order of the gate weights: LSTM (i, f, g, o) → (i, f, o, g); others unchanged."""
        if self.cell == "lstm":
            return torch.cat(
                [torch.arange(0, 2 * h), torch.arange(3 * h, 4 * h), torch.arange(2 * h, 3 * h)]
            ).to(device)
        return torch.arange(self.gates_per_layer * h, device=device)

    def load_state(self, state: tuple[torch.Tensor, ...]) -> None:
        """Take the (num_layers, B, H) state of a full-sequence forward pass (e.g. after a prime)."""
        h = self.hidden
        for k in range(self.num_layers):
            self.xh[k][:, h:].copy_(state[0][k])
            if k + 1 < self.num_layers:
                self.xh[k + 1][:, :h].copy_(state[0][k])
            if self.cell == "lstm":
                self.c[k].copy_(state[1][k])

    @torch.no_grad()
    def step(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B,) → logits (B, V) of the next character; the returned tensor is reused."""
        h = self.hidden
        for k in range(self.num_layers):
            x_and_h = self.xh[k]
            h_prev = x_and_h[:, h:]
            if self.cell == "gru":
                gi = (
                    self.input_table[ids]
                    if k == 0
                    else torch.addmm(self.b_ih[k], x_and_h[:, :h], self.w_ih_t[k])
                )
                torch.addmm(self.b_hh[k], h_prev, self.w_hh_t[k], out=self.gates_h)
                rz = torch.sigmoid(gi[:, : 2 * h] + self.gates_h[:, : 2 * h])
                n = torch.tanh(torch.addcmul(gi[:, 2 * h :], rz[:, :h], self.gates_h[:, 2 * h :]))
                # h' = (1 - z) n + z h = n + z (h - n)
                h_prev.sub_(n).mul_(rz[:, h:]).add_(n)
            else:
                if k == 0:
                    torch.addmm(self.input_table[ids], h_prev, self.w_hh_t[0], out=self.gates)
                else:
                    torch.addmm(self.b_cat[k], x_and_h, self.w_cat_t[k], out=self.gates)
                if self.cell == "rnn":
                    torch.tanh(self.gates, out=h_prev)
                else:
                    sig = self.gates[:, : 3 * h].sigmoid_()
                    cand = self.gates[:, 3 * h :].tanh_()
                    c = self.c[k]
                    c.mul_(sig[:, h : 2 * h]).addcmul_(sig[:, :h], cand)
                    torch.tanh(c, out=self.tmp)
                    torch.mul(sig[:, 2 * h : 3 * h], self.tmp, out=h_prev)
            if k + 1 < self.num_layers:
                self.xh[k + 1][:, :h].copy_(h_prev)
        top = self.xh[self.num_layers - 1][:, h:]
        return torch.addmm(self.b_out, top, self.w_out_t, out=self.logits)
