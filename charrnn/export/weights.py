"""A network's weights as plain float32 arrays, per layer under one name per matrix: what every
export format writes (onnx_graph.py, html_page.py) and what safetensors files hold.

Per layer, by cell (PyTorch's conventions; gates in PyTorch's order):

    lstm, gru, rnn   w_ih (G, In), w_hh (G, H), b_ih (G,), b_hh (G,)    G = 4H, 3H, H
                     lstm gates i, f, g, o; gru r, z, n (n = tanh(x_n + r ⊙ (W_hn h + b_hn)))
    mrnn             w_fx (F, In), w_fh (F, H), w_hf (H, F), w_hx (H, In), bias (H,)
    mlstm            w_mx (F, In), w_mh (F, H), w_x (4H, In), w_m (4H, F), bias (4H,)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from charrnn.model.cells import MultiplicativeStack
from charrnn.model.config import MULTIPLICATIVE, ModelConfig
from charrnn.model.network import CharRNN

LAYER_NAMES = {
    "lstm": ("w_ih", "w_hh", "b_ih", "b_hh"),
    "gru": ("w_ih", "w_hh", "b_ih", "b_hh"),
    "rnn": ("w_ih", "w_hh", "b_ih", "b_hh"),
    "mrnn": ("w_fx", "w_fh", "w_hf", "w_hx", "bias"),
    "mlstm": ("w_mx", "w_mh", "w_x", "w_m", "bias"),
}
_TORCH_NAMES = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh"}


@dataclass(frozen=True)
class NetworkWeights:
    config: ModelConfig
    embedding: np.ndarray  # (V, E)
    layers: tuple[dict[str, np.ndarray], ...]  # LAYER_NAMES[cell] each
    head_weight: np.ndarray  # (V, H)
    head_bias: np.ndarray  # (V,)


def _array(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to(device="cpu", dtype=torch.float32).numpy())


def network_weights(model: CharRNN) -> NetworkWeights:
    """The weights of `model` in float32 on the CPU, whatever device or precision it is in."""
    cfg = model.config
    layers = []
    for k in range(cfg.num_layers):
        if cfg.cell in MULTIPLICATIVE:
            assert isinstance(model.recurrent, MultiplicativeStack)
            layer = model.recurrent.layers[k]
            layers.append({name: _array(getattr(layer, name)) for name in LAYER_NAMES[cfg.cell]})
        else:
            layers.append(
                {
                    n: _array(getattr(model.recurrent, f"{_TORCH_NAMES[n]}_l{k}"))
                    for n in LAYER_NAMES[cfg.cell]
                }
            )
    return NetworkWeights(
        cfg, _array(model.embedding.weight), tuple(layers), _array(model.head.weight), _array(model.head.bias)
    )


def flat_weights(weights: NetworkWeights) -> dict[str, np.ndarray]:
    """One dict of named arrays: embedding, layers.K.NAME, head.weight, head.bias."""
    flat = {"embedding": weights.embedding}
    for k, layer in enumerate(weights.layers):
        flat.update({f"layers.{k}.{name}": array for name, array in layer.items()})
    return {**flat, "head.weight": weights.head_weight, "head.bias": weights.head_bias}
