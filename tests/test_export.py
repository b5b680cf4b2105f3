"""`charrnn export`: each format proven equal to charrnn itself, for every cell.

ONNX: onnxruntime's nats/char over a few thousand characters (windows of 100, the state carried)
equals `charrnn perplexity`'s; safetensors: `--checkpoint DIR` samples the same text as the .pt
it came from; the HTML page is tested in a real browser in test_export_browser.py.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PHRASE, assert_one_line_error, invoke

from charrnn.model.checkpoint import Checkpoint
from charrnn.model.config import CELLS

ort = pytest.importorskip(
    "onnxruntime", reason="the export extra is not installed (pip install -e '.[export]')"
)


def mixed_text(chars: int = 3000, seed: int = 0) -> str:
    """PHRASE, then the same characters shuffled: text the model half knows."""
    shuffled = list(PHRASE * (chars // len(PHRASE) // 2 + 1))
    random.Random(seed).shuffle(shuffled)
    return (PHRASE * (chars // len(PHRASE) // 2 + 1) + "".join(shuffled))[:chars]


def export(checkpoint: Path, fmt: str, output: Path, *extra: str) -> None:
    result = invoke(
        "export", "--checkpoint", str(checkpoint), "--format", fmt, "--output", str(output), *extra
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    said = re.fullmatch(r"wrote (.+) \(\d+\.\d\d MB, (fp32|fp16|int8) weights\) from (\S+)\n", result.stderr)
    assert said is not None, result.stderr
    assert said.group(1).split(", ")[0].startswith(str(output))
    assert Path(said.group(3)) == (checkpoint if checkpoint.suffix else checkpoint / "best.pt")


def perplexity(checkpoint: Path, text_file: Path) -> dict:
    result = invoke("perplexity", str(text_file), "--checkpoint", str(checkpoint), "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["total"]


def onnx_nats_per_char(session: ort.InferenceSession, ids: np.ndarray, window: int = 100) -> float:
    """Every character after the first, read in windows with the state carried, batch 1."""
    names = {i.name: i.shape for i in session.get_inputs()}
    layers, hidden = names["h0"][0], names["h0"][2]
    state = {n: np.zeros((layers, 1, hidden), np.float32) for n in names if n != "ids"}
    inputs, targets = ids[:-1], ids[1:]
    total = 0.0
    for start in range(0, len(inputs), window):
        x = inputs[start : start + window][None].astype(np.int64)
        logits, *new_state = session.run(None, {"ids": x, **state})
        state = dict(zip([n for n in ("h0", "c0") if n in state], new_state, strict=True))
        logits = logits[0].astype(np.float64)
        log_z = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
        y = targets[start : start + window]
        total += float((log_z - logits[np.arange(len(y)), y]).sum())
    return total / len(targets)


@pytest.mark.parametrize("cell", CELLS)
def test_onnx_runs_a_text_in_windows_as_charrnn_perplexity_does(cell: str, every_cell: dict, tmp_path: Path):
    text_file = tmp_path / "text.txt"
    text_file.write_text(mixed_text(), encoding="utf-8")
    export(every_cell[cell], "onnx", tmp_path / "model.onnx")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    meta = session.get_modelmeta().custom_metadata_map
    vocabulary = json.loads(meta["charrnn.vocabulary"])
    assert "".join(vocabulary) == Checkpoint.load(every_cell[cell] / "best.pt").vocabulary.chars
    assert meta["charrnn.cell"] == cell and meta["charrnn.num_layers"] == "2"
    assert [i.name for i in session.get_inputs()] == ["ids", "h0", "c0"][
        : 3 if cell in ("lstm", "mlstm") else 2
    ]
    ids = np.array([vocabulary.index(c) for c in text_file.read_text(encoding="utf-8")])
    expected = perplexity(every_cell[cell], text_file)
    assert expected["chars_scored"] == len(ids) - 1
    assert onnx_nats_per_char(session, ids) == pytest.approx(expected["nats_per_char"], abs=1e-4)


def test_onnx_batch_and_time_are_dynamic_and_the_state_carries(every_cell: dict, tmp_path: Path):
    """Two rows at once, one character at a time, give what one call over the whole window does."""
    export(every_cell["lstm"], "onnx", tmp_path / "model.onnx")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    size = len(json.loads(session.get_modelmeta().custom_metadata_map["charrnn.vocabulary"]))
    ids = np.random.default_rng(0).integers(0, size, size=(2, 12)).astype(np.int64)
    zeros = np.zeros((2, 2, 24), np.float32)
    whole, hn, cn = session.run(None, {"ids": ids, "h0": zeros, "c0": zeros})
    h, c, steps = zeros, zeros, []
    for t in range(ids.shape[1]):
        logits, h, c = session.run(None, {"ids": ids[:, t : t + 1], "h0": h, "c0": c})
        steps.append(logits)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), whole, atol=1e-5)
    np.testing.assert_allclose(h, hn, atol=1e-6)
    np.testing.assert_allclose(c, cn, atol=1e-6)


def test_a_checkpoint_with_bf16_weights_exports_in_fp32(every_cell: dict, tmp_path: Path):
    source = Checkpoint.load(every_cell["gru"] / "best.pt")
    weights = {k: v.to(torch.bfloat16) for k, v in source.weights.items()}
    Checkpoint(source.model_config, source.vocabulary, weights, source.written_by).save(tmp_path / "bf16.pt")
    export(tmp_path / "bf16.pt", "onnx", tmp_path / "model.onnx")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    assert session.get_outputs()[0].type == "tensor(float)"
    text_file = tmp_path / "text.txt"
    text_file.write_text(mixed_text(1000), encoding="utf-8")
    ids = np.array([source.vocabulary.chars.index(c) for c in text_file.read_text(encoding="utf-8")])
    expected = perplexity(tmp_path / "bf16.pt", text_file)["nats_per_char"]
    assert onnx_nats_per_char(session, ids) == pytest.approx(expected, abs=1e-4)


def test_the_docs_onnx_example_samples_with_onnxruntime_alone(every_cell: dict, tmp_path: Path):
    """docs/sharing.md's example, run with torch made unimportable."""
    docs = (Path(__file__).parents[1] / "docs" / "sharing.md").read_text(encoding="utf-8")
    example = re.search(r"```python\n(# sample_onnx\.py.*?)```", docs, re.S)
    assert example is not None, "docs/sharing.md lost its onnxruntime example"
    export(every_cell["lstm"], "onnx", tmp_path / "model.onnx")
    script = tmp_path / "sample_onnx.py"
    script.write_text("import sys\nsys.modules['torch'] = None\n" + example.group(1), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "model.onnx")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    greedy_args = ("sample", "--checkpoint", str(every_cell["lstm"]), "--prime", "the ", "--temperature", "0")
    assert done.stdout == invoke(*greedy_args, "--length", "300").stdout


@pytest.mark.parametrize("cell", CELLS)
def test_safetensors_samples_what_the_checkpoint_samples(cell: str, every_cell: dict, tmp_path: Path):
    from safetensors import safe_open

    import charrnn

    out = tmp_path / "shared"
    export(every_cell[cell], "safetensors", out)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    original = charrnn.load(every_cell[cell])
    assert config["vocabulary"] == list(original.loaded.vocab.chars)
    assert config["model"]["cell"] == cell
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:  # plain tensors, no pickle
        assert set(f.keys()) == set(original.network.state_dict())
    shared = charrnn.load(out)
    for kwargs in ({"temperature": 0.8, "seed": 3}, {"temperature": 0.0}):
        assert shared.sample(length=120, prime="the ", **kwargs) == original.sample(
            length=120, prime="the ", **kwargs
        )
    result = invoke("sample", "--checkpoint", str(out), "--length", "80", "--seed", "5")
    assert result.exit_code == 0, result.stderr
    assert (
        result.stdout
        == invoke("sample", "--checkpoint", str(every_cell[cell]), "--length", "80", "--seed", "5").stdout
    )


def test_a_safetensors_directory_cannot_be_resumed_but_can_be_fine_tuned(every_cell: dict, tmp_path: Path):
    out = tmp_path / "shared"
    export(every_cell["gru"], "safetensors", out)
    corpus = tmp_path / "more.txt"
    corpus.write_text(PHRASE * 20, encoding="utf-8")
    tiny = ("--cell", "gru", "--hidden", "24", "--embed", "8", "--batch-size", "2", "--seq-len", "8")
    tiny += ("--max-steps", "2", "--max-minutes", "0", "--threads", "1", "--quiet")
    result = invoke(
        "train", str(corpus), "--init-from", str(out), "--checkpoint-dir", str(tmp_path / "ft"), *tiny
    )
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "ft" / "last.pt").is_file()
    resumed = invoke("train", str(corpus), "--resume", "--checkpoint-dir", str(out), *tiny)
    assert_one_line_error(resumed, "last.pt")  # the run's own checkpoint, which an export is not
