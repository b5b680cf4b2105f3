"""`charrnn export --format safetensors`: DIR/model.safetensors and DIR/config.json, the layout
of the Hugging Face ecosystem; model/safetensors_file.py reads it back."""

from __future__ import annotations

import json
from pathlib import Path

from charrnn import __version__
from charrnn.files import atomic_write
from charrnn.measure.info import describe_checkpoint
from charrnn.model.checkpoint import LoadedModel
from charrnn.model.safetensors_file import CONFIG_FILE, FORMAT, VERSION, WEIGHTS_FILE


def export_safetensors(loaded: LoadedModel, checkpoint: Path, output: Path) -> list[Path]:
    """Write the model of `loaded` (read from `checkpoint`) into the directory `output`; the
    files written."""
    from safetensors.torch import save

    state = {k: v.detach().float().cpu().contiguous() for k, v in loaded.network.state_dict().items()}
    summary = describe_checkpoint(loaded, checkpoint)
    config = {
        "format": FORMAT,
        "format_version": VERSION,
        "written_by": loaded.checkpoint.written_by,
        "exported_by": __version__,
        "model": loaded.checkpoint.model_config.to_dict(),
        "vocabulary": list(loaded.vocab.chars),
        "corpus": summary["corpus"],
        "training": summary["training"],
    }
    data = save(state, metadata={"format": "pt"})
    output.mkdir(parents=True, exist_ok=True)
    weights, config_path = output / WEIGHTS_FILE, output / CONFIG_FILE
    atomic_write(weights, lambda f: f.write(data), mode=0o644)
    text = json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    atomic_write(config_path, lambda f: f.write(text.encode("utf-8")), mode=0o644)
    return [weights, config_path]
