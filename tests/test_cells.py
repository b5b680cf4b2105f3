"""The multiplicative cells (mrnn, mlstm): equations, gradients, sequence = steps, training end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import OVERFIT, PHRASE, Recorder, invoke

from charrnn.generate.sampling import sample_text
from charrnn.model.cells import MLSTMLayer, MRNNLayer
from charrnn.model.checkpoint import load_model
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN
from charrnn.train.loop import train


def naive_mrnn(layer: MRNNLayer, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """f_t = (W_fx x_t) ⊙ (W_fh h_{t-1}); h_t = tanh(W_hf f_t + W_hx x_t + b), one stream at a time."""
    outs = torch.zeros(x.shape[0], x.shape[1], layer.hidden_size, dtype=x.dtype)
    for b in range(x.shape[0]):
        hb = h[b]
        for t in range(x.shape[1]):
            f = (layer.w_fx @ x[b, t]) * (layer.w_fh @ hb)
            hb = torch.tanh(layer.w_hf @ f + layer.w_hx @ x[b, t] + layer.bias)
            outs[b, t] = hb
    return outs, outs[:, -1]


def naive_mlstm(
    layer: MLSTMLayer, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """m_t = (W_mx x_t) ⊙ (W_mh h_{t-1}); the LSTM gates read m_t where an LSTM reads h_{t-1}."""
    H = layer.hidden_size
    outs = torch.zeros(x.shape[0], x.shape[1], H, dtype=x.dtype)
    cells = torch.zeros(x.shape[0], H, dtype=x.dtype)
    for b in range(x.shape[0]):
        hb, cb = h[b], c[b]
        for t in range(x.shape[1]):
            m = (layer.w_mx @ x[b, t]) * (layer.w_mh @ hb)
            z = layer.w_x @ x[b, t] + layer.w_m @ m + layer.bias
            i, f, g, o = z[:H], z[H : 2 * H], z[2 * H : 3 * H], z[3 * H :]
            cb = torch.sigmoid(f) * cb + torch.sigmoid(i) * torch.tanh(g)
            hb = torch.sigmoid(o) * torch.tanh(cb)
            outs[b, t] = hb
        cells[b] = cb
    return outs, outs[:, -1], cells


def test_mrnn_layer_equals_its_equations():
    torch.manual_seed(0)
    layer = MRNNLayer(input_size=5, hidden_size=6, factors=4)
    x, h = torch.randn(3, 7, 5), torch.randn(3, 6)
    out, last = layer(x, h)
    want_out, want_last = naive_mrnn(layer, x, h)
    assert torch.allclose(out, want_out, atol=1e-5) and torch.allclose(last, want_last, atol=1e-5)


def test_mlstm_layer_equals_its_equations():
    torch.manual_seed(0)
    layer = MLSTMLayer(input_size=5, hidden_size=6, factors=4)
    x, h, c = torch.randn(3, 7, 5), torch.randn(3, 6), torch.randn(3, 6)
    out, last_h, last_c = layer(x, h, c)
    want_out, want_h, want_c = naive_mlstm(layer, x, h, c)
    assert torch.allclose(out, want_out, atol=1e-5)
    assert torch.allclose(last_h, want_h, atol=1e-5) and torch.allclose(last_c, want_c, atol=1e-5)


@pytest.mark.parametrize("layer_type", [MRNNLayer, MLSTMLayer])
def test_gradients_match_finite_differences(layer_type):
    torch.manual_seed(0)
    layer = layer_type(input_size=3, hidden_size=4, factors=2).double()
    x = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    state = [torch.randn(2, 4, dtype=torch.float64, requires_grad=True)]
    if layer_type is MLSTMLayer:
        state.append(torch.randn(2, 4, dtype=torch.float64, requires_grad=True))

    def run(x, *state_and_params):
        return layer(x, *state_and_params[: len(state)])[0]

    assert torch.autograd.gradcheck(run, (x, *state), eps=1e-6, atol=1e-5)
    # and with respect to every weight
    for name, param in layer.named_parameters():
        original = param.detach().clone()

        def with_param(p, name=name):
            return torch.func.functional_call(layer, {name: p}, (x.detach(), *[s.detach() for s in state]))[0]

        assert torch.autograd.gradcheck(with_param, (original.requires_grad_(),), eps=1e-6, atol=1e-5), name


@pytest.mark.parametrize("cell", ["mrnn", "mlstm"])
def test_whole_sequence_equals_one_step_at_a_time(cell: str):
    torch.manual_seed(0)
    model = CharRNN(
        ModelConfig(vocab_size=9, cell=cell, num_layers=2, hidden_size=8, embed_size=5, factors=6)
    )
    model.eval()
    ids = torch.randint(0, 9, (3, 10))
    logits, state = model(ids)
    step_state = None
    for t in range(10):
        step_logits, step_state = model(ids[:, t : t + 1], step_state)
        assert torch.allclose(step_logits[:, 0], logits[:, t], atol=1e-5)
    assert len(state) == (2 if cell == "mlstm" else 1)
    for a, b in zip(state, step_state, strict=True):
        assert a.shape == (2, 3, 8) and torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("cell", ["mrnn", "mlstm"])
def test_a_tiny_corpus_is_overfitted_and_the_checkpoint_samples_and_scores(make_config, cell: str):
    config = make_config(cell=cell, **OVERFIT)
    result = train(config)
    assert result.last_val_loss is not None and result.last_val_loss < 0.1
    checkpoint = Path(config.checkpoint_dir) / "last.pt"
    loaded = load_model(checkpoint, torch.device("cpu"))
    assert loaded.network.config.cell == cell
    text = "t" + sample_text(
        loaded.network, loaded.vocab, prime="t", length=2 * len(PHRASE) - 1, temperature=0
    )
    if cell == "mlstm":
        assert text == PHRASE * 2
    else:  # a tanh RNN this small may lose "deer runs"/"dear waits" (20 characters back): every
        # 10-character stretch of its greedy text must still be a stretch of the corpus
        assert all(text[i : i + 10] in PHRASE * 3 for i in range(len(text) - 10)), text

    sampled = invoke(
        "sample", "--checkpoint", str(checkpoint), "--prime", "the", "--length", "20", "--seed", "3"
    )
    assert sampled.exit_code == 0 and sampled.stdout.startswith("the")
    scored = invoke("score", "the red deer", "the rde deer", "--checkpoint", str(checkpoint), "--json")
    assert [c["text"] for c in json.loads(scored.stdout)["candidates"]] == ["the red deer", "the rde deer"]


def test_resume_of_a_multiplicative_run_equals_an_uninterrupted_one(make_config, tmp_path: Path):
    from charrnn.train.run_config import config_for_resume
    from charrnn.train.signals import StopRequest

    common = {"cell": "mlstm", "dropout": 0.25, "max_steps": 8, "eval_every": 4}
    whole = make_config(checkpoint_dir=tmp_path / "whole", **common)
    train(whole)
    first = make_config(checkpoint_dir=tmp_path / "split", **common)
    stop = StopRequest()

    assert train(first, [Recorder(stop, stop_at=4)], stop=stop).step == 4
    train(config_for_resume(Path(first.checkpoint_dir), {}), resume=True)
    a = load_model(Path(whole.checkpoint_dir) / "last.pt", torch.device("cpu")).network.state_dict()
    b = load_model(Path(first.checkpoint_dir) / "last.pt", torch.device("cpu")).network.state_dict()
    for name in a:
        assert torch.equal(a[name], b[name]), name
