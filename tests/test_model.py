import math

import pytest
import torch
import torch.nn.functional as F

from charrnn.errors import ConfigError
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN


def naive_lstm_layer(
    rnn: torch.nn.LSTM, layer: int, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The LSTM equations written out, one time step at a time."""
    w_ih, w_hh = getattr(rnn, f"weight_ih_l{layer}"), getattr(rnn, f"weight_hh_l{layer}")
    b = getattr(rnn, f"bias_ih_l{layer}") + getattr(rnn, f"bias_hh_l{layer}")
    outs = []
    for t in range(x.shape[1]):
        gates = x[:, t] @ w_ih.T + h @ w_hh.T + b
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs, dim=1), h, c


def test_lstm_stack_equals_naive_per_step_equations():
    torch.manual_seed(0)
    model = CharRNN(
        ModelConfig(vocab_size=11, cell="lstm", num_layers=2, hidden_size=8, embed_size=5, dropout=0.0)
    )
    ids = torch.randint(0, 11, (3, 7))
    logits, (h_n, c_n) = model(ids)
    x = model.embedding(ids)
    hs, cs = [], []
    for layer in range(2):
        zeros = torch.zeros(3, 8)
        x, h, c = naive_lstm_layer(model.recurrent, layer, x, zeros, zeros)
        hs.append(h)
        cs.append(c)
    assert torch.allclose(logits, model.head(x), atol=1e-5)
    assert torch.allclose(h_n, torch.stack(hs), atol=1e-5)
    assert torch.allclose(c_n, torch.stack(cs), atol=1e-5)


@pytest.mark.parametrize("cell,reference", [("gru", torch.nn.GRUCell), ("rnn", torch.nn.RNNCell)])
def test_single_layer_cells_equal_torch_cells(cell, reference):
    torch.manual_seed(0)
    model = CharRNN(
        ModelConfig(vocab_size=9, cell=cell, num_layers=1, hidden_size=6, embed_size=4, dropout=0.0)
    )
    ref = reference(4, 6)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, name).copy_(getattr(model.recurrent, f"{name}_l0"))
    ids = torch.randint(0, 9, (2, 5))
    logits, _ = model(ids)
    h = torch.zeros(2, 6)
    x = model.embedding(ids)
    steps = []
    for t in range(5):
        h = ref(x[:, t], h)
        steps.append(model.head(h))
    assert torch.allclose(logits, torch.stack(steps, dim=1), atol=1e-5)


def test_forget_gate_bias_starts_at_one():
    model = CharRNN(ModelConfig(vocab_size=5, cell="lstm", num_layers=3, hidden_size=4, embed_size=2))
    for layer in range(3):
        total = getattr(model.recurrent, f"bias_ih_l{layer}") + getattr(model.recurrent, f"bias_hh_l{layer}")
        assert torch.equal(total[4:8], torch.ones(4))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_full_sequence_forward_equals_step_by_step(cell):
    torch.manual_seed(1)
    model = CharRNN(
        ModelConfig(vocab_size=13, cell=cell, num_layers=2, hidden_size=10, embed_size=6, dropout=0.3)
    ).eval()
    ids = torch.randint(0, 13, (2, 9))
    full, full_state = model(ids)
    state = None
    steps = []
    for t in range(9):
        logits, state = model(ids[:, t : t + 1], state)
        steps.append(logits)
    assert torch.allclose(full, torch.cat(steps, dim=1), atol=1e-5)
    for a, b in zip(full_state, state, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_initial_loss_is_about_log_vocab_size():
    torch.manual_seed(0)
    vocab = 65
    model = CharRNN(ModelConfig(vocab_size=vocab, hidden_size=64, embed_size=16))
    ids = torch.randint(0, vocab, (8, 50))
    logits, _ = model(ids)
    loss = F.cross_entropy(logits.flatten(0, 1), ids.flatten())
    assert abs(loss.item() - math.log(vocab)) < 0.1


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("cell", "lstmx", "--cell"),
        ("num_layers", 0, "--layers"),
        ("hidden_size", -1, "--hidden"),
        ("embed_size", 0, "--embed"),
        ("dropout", 1.0, "--dropout"),
        ("dropout", -0.1, "--dropout"),
    ],
)
def test_bad_model_config_is_refused(field, value, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(vocab_size=5, **{field: value})
