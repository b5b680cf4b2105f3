"""`charrnn export --format onnx`: the network as one ONNX graph with its state explicit.

    inputs   ids (int64, [batch, time]), h0 (float32, [layers, batch, hidden]), c0 (lstm, mlstm)
    outputs  logits (float32, [batch, time, vocab]), hn, cn (lstm, mlstm)

Batch and time are dynamic: the same file reads a whole text in windows (the state carried) or
one character at a time. The time loop is an ONNX Scan whose body is one step of every layer,
written out in MatMul, Add, Sigmoid and Tanh from weights.py's arrays: the same arithmetic for
every cell, each gate in PyTorch's convention (a GRU's candidate gate scales W_hn h + b_hn by
r: what ONNX's own GRU calls linear_before_reset=1, and what gets silently lost when it is 0).
The metadata holds the vocabulary (`charrnn.vocabulary`: a JSON list of the characters in id
order), the cell, the sizes and charrnn's version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from charrnn import __version__
from charrnn.data.vocab import Vocabulary
from charrnn.export.weights import NetworkWeights, network_weights
from charrnn.files import atomic_write
from charrnn.model.checkpoint import LoadedModel
from charrnn.model.config import ModelConfig

OPSET = 17


class _Builder:
    """Nodes of one graph, each output named uniquely."""

    def __init__(self, prefix: str) -> None:
        self.nodes: list[Any] = []
        self.prefix = prefix
        self.count = 0

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs: Any) -> Any:
        from onnx import helper

        names = []
        for _ in range(outputs):
            self.count += 1
            names.append(f"{self.prefix}{self.count}")
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names

    def linear(self, x: str, weight: str, bias: str | None = None) -> str:
        y = self.op("MatMul", x, weight)
        return y if bias is None else self.op("Add", y, bias)


def _lstm_update(b: _Builder, gates: str, c: str) -> tuple[str, str]:
    i, f, g, o = b.op("Split", gates, outputs=4, axis=1)
    c_new = b.op("Add", b.op("Mul", b.op("Sigmoid", f), c), b.op("Mul", b.op("Sigmoid", i), b.op("Tanh", g)))
    return b.op("Mul", b.op("Sigmoid", o), b.op("Tanh", c_new)), c_new


def _step(b: _Builder, cell: str, k: int, x: str, h: str, c: str | None) -> tuple[str, str | None]:
    """Layer k's new (h, c) from its input x (B, In) and state h, c (B, H)."""
    w = lambda name: f"l{k}.{name}"  # noqa: E731  (a transposed weight or a bias initializer)
    if cell in ("lstm", "rnn"):
        pre = b.op("Add", b.linear(x, w("w_ih")), b.linear(h, w("w_hh"), w("b")))
        if cell == "rnn":
            return b.op("Tanh", pre), None
        assert c is not None
        return _lstm_update(b, pre, c)
    if cell == "gru":
        xr, xz, xn = b.op("Split", b.linear(x, w("w_ih"), w("b_ih")), outputs=3, axis=1)
        hr, hz, hn = b.op("Split", b.linear(h, w("w_hh"), w("b_hh")), outputs=3, axis=1)
        r = b.op("Sigmoid", b.op("Add", xr, hr))
        z = b.op("Sigmoid", b.op("Add", xz, hz))
        n = b.op("Tanh", b.op("Add", xn, b.op("Mul", r, hn)))
        return b.op("Add", n, b.op("Mul", z, b.op("Sub", h, n))), None  # (1 - z) n + z h
    if cell == "mrnn":
        f = b.op("Mul", b.linear(x, w("w_fx")), b.linear(h, w("w_fh")))
        return b.op("Tanh", b.op("Add", b.linear(f, w("w_hf")), b.linear(x, w("w_hx"), w("bias")))), None
    m = b.op("Mul", b.linear(x, w("w_mx")), b.linear(h, w("w_mh")))  # mlstm
    gates = b.op("Add", b.linear(x, w("w_x"), w("bias")), b.linear(m, w("w_m")))
    assert c is not None
    return _lstm_update(b, gates, c)


def _initializers(weights: NetworkWeights) -> dict[str, np.ndarray]:
    """Matrices transposed to (In, Out) for MatMul; an LSTM's and RNN's two biases summed."""
    cell = weights.config.cell
    out = {
        "embedding": weights.embedding,
        "head.w": weights.head_weight.T,
        "head.b": weights.head_bias,
    }
    for k, layer in enumerate(weights.layers):
        for name, array in layer.items():
            if name.startswith("w_"):
                out[f"l{k}.{name}"] = array.T
            elif cell in ("lstm", "rnn"):
                out[f"l{k}.b"] = layer["b_ih"] + layer["b_hh"]
            else:
                out[f"l{k}.{name}"] = array
        out[f"l{k}.index"] = np.array(k, dtype=np.int64)
    out["axis0"] = np.array([0], dtype=np.int64)
    return {
        name: np.require(a, dtype=np.float32 if a.dtype.kind == "f" else a.dtype, requirements="C")
        for name, a in out.items()
    }


def metadata(config: ModelConfig, vocabulary: Vocabulary) -> dict[str, str]:
    return {
        "charrnn.vocabulary": json.dumps(list(vocabulary.chars), ensure_ascii=False),
        "charrnn.cell": config.cell,
        "charrnn.num_layers": str(config.num_layers),
        "charrnn.hidden_size": str(config.hidden_size),
        "charrnn.embed_size": str(config.embed_size),
        "charrnn.factors": str(config.factor_size),
        "charrnn.version": __version__,
    }


def onnx_model(weights: NetworkWeights, vocabulary: Vocabulary) -> Any:
    """The ONNX ModelProto of the network (float32), checked by onnx.checker."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    cfg = weights.config
    has_c = cfg.has_cell_state
    layers, hidden = cfg.num_layers, cfg.hidden_size
    # The body: one step of every layer and the logits, on the states of all layers at once.
    body = _Builder("s")
    h_all, c_all = "h_in", "c_in"
    x = body.op("Gather", "embedding", "id_t", axis=0)  # (B, E)
    new_h, new_c = [], []
    for k in range(layers):
        h = body.op("Gather", h_all, f"l{k}.index", axis=0)  # (B, H)
        c = body.op("Gather", c_all, f"l{k}.index", axis=0) if has_c else None
        x, c_next = _step(body, cfg.cell, k, x, h, c)
        new_h.append(body.op("Unsqueeze", x, "axis0"))
        if c_next is not None:
            new_c.append(body.op("Unsqueeze", c_next, "axis0"))
    body.nodes.append(helper.make_node("Concat", new_h, ["h_out"], axis=0))
    if has_c:
        body.nodes.append(helper.make_node("Concat", new_c, ["c_out"], axis=0))
    body.nodes.append(helper.make_node("Add", [body.op("MatMul", x, "head.w"), "head.b"], ["logits_t"]))
    state_shape: list[str | int] = [layers, "batch", hidden]
    f32 = TensorProto.FLOAT
    states_in = [helper.make_tensor_value_info("h_in", f32, state_shape)]
    states_out = [helper.make_tensor_value_info("h_out", f32, state_shape)]
    if has_c:
        states_in.append(helper.make_tensor_value_info("c_in", f32, state_shape))
        states_out.append(helper.make_tensor_value_info("c_out", f32, state_shape))
    body_graph = helper.make_graph(
        body.nodes,
        "step",
        [*states_in, helper.make_tensor_value_info("id_t", TensorProto.INT64, ["batch"])],
        [*states_out, helper.make_tensor_value_info("logits_t", f32, ["batch", cfg.vocab_size])],
    )
    state_names = ["h0", "c0"] if has_c else ["h0"]
    out_names = ["hn", "cn"] if has_c else ["hn"]
    scan = helper.make_node(
        "Scan",
        [*state_names, "ids"],
        [*out_names, "logits"],
        body=body_graph,
        num_scan_inputs=1,
        scan_input_axes=[1],
        scan_output_axes=[1],
    )
    inputs = [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "time"])]
    inputs += [helper.make_tensor_value_info(n, f32, state_shape) for n in state_names]
    outputs = [helper.make_tensor_value_info("logits", f32, ["batch", "time", cfg.vocab_size])]
    outputs += [helper.make_tensor_value_info(n, f32, state_shape) for n in out_names]
    inits = [numpy_helper.from_array(a, name) for name, a in _initializers(weights).items()]
    graph = helper.make_graph([scan], "charrnn", inputs, outputs, initializer=inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="charrnn",
        producer_version=__version__,
    )
    model.ir_version = 8  # what onnxruntime releases of the last years all read
    helper.set_model_props(model, metadata(cfg, vocabulary))
    onnx.checker.check_model(model)
    return model


def export_onnx(loaded: LoadedModel, output: Path) -> list[Path]:
    model = onnx_model(network_weights(loaded.network), loaded.vocab)
    data = model.SerializeToString()
    atomic_write(output, lambda f: f.write(data), mode=0o644)
    return [output]
