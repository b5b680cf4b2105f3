"""`charrnn export`: a checkpoint (a .pt file, a run directory, or an exported safetensors
directory) written as ONNX, safetensors or one HTML page, on the CPU in float32 whatever device
or precision it was trained in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from charrnn.errors import ConfigError, MissingDependency
from charrnn.export.quantize import WEIGHT_TYPES
from charrnn.model.checkpoint import LoadedModel, load_model
from charrnn.model.paths import resolve_checkpoint
from charrnn.options import check_choice

FORMATS = ("onnx", "safetensors", "html")
_NEEDS = {"onnx": "onnx"}  # the package a format is written with, beyond the core (safetensors is one)


@dataclass(frozen=True)
class Exported:
    checkpoint: Path
    format: str
    files: tuple[Path, ...]
    weights: str  # the weight type written: fp32, or the page's --weights

    @property
    def size(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def _require(package: str) -> None:
    import importlib.util

    if importlib.util.find_spec(package) is None:
        raise MissingDependency(
            f"exporting to {package} needs the {package} package: pip install 'charrnn[export]'"
        )


def _write(loaded: LoadedModel, checkpoint: Path, format: str, output: Path, weights: str) -> list[Path]:
    if format == "safetensors":
        from charrnn.export.safetensors_dir import export_safetensors

        if output.exists() and not output.is_dir():
            raise ConfigError(f"--output for safetensors is a directory, and {output} is a file")
        return export_safetensors(loaded, checkpoint, output)
    if output.is_dir():
        raise ConfigError(f"--output for {format} is a file, and {output} is a directory")
    output.parent.mkdir(parents=True, exist_ok=True)
    if format == "onnx":
        from charrnn.export.onnx_graph import export_onnx

        return export_onnx(loaded, output)
    from charrnn.export.html_page import export_html

    return export_html(loaded, checkpoint, output, weights)


def export_model(checkpoint: Path | None, format: str, output: Path, weights: str | None = None) -> Exported:
    check_choice("--format", format, FORMATS)
    if weights is not None and format != "html":
        raise ConfigError(f"--weights is for --format html; {format} is written in fp32")
    weights = weights or ("fp16" if format == "html" else "fp32")
    check_choice("--weights", weights, WEIGHT_TYPES)
    if format in _NEEDS:
        _require(_NEEDS[format])
    path = resolve_checkpoint(checkpoint)
    loaded = load_model(path, "cpu")
    loaded.network.float().eval()
    try:
        files = _write(loaded, path, format, output, weights)
    except OSError as e:
        raise ConfigError(f"could not write {output}: {e.strerror or e}") from None
    return Exported(path, format, tuple(files), weights)
