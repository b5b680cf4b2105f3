"""`charrnn plot --output FILE.png`: the curves of one or more runs as a matplotlib figure
(an optional extra: pip install 'charrnn[plot]')."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from charrnn.errors import ConfigError
from charrnn.train.curves import Curves


def make_figure(runs: list[Curves]) -> Any:
    """Bits per character (train dashed, validation solid) over the learning rate, shared x."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError(
            "PNG output needs matplotlib: pip install 'charrnn[plot]' (or use --terminal)"
        ) from None
    fig, (bpc, lr) = plt.subplots(2, 1, sharex=True, figsize=(8, 6), height_ratios=[3, 1])
    for run in runs:
        if run.train_bpc:
            line = bpc.plot(*zip(*run.train_bpc, strict=True), linestyle="--", label=f"{run.name} train")[0]
            color = line.get_color()
        else:
            color = None
        if run.val_bpc:
            bpc.plot(*zip(*run.val_bpc, strict=True), marker="o", color=color, label=f"{run.name} validation")
        if run.lr:
            lr.plot(*zip(*run.lr, strict=True), color=color)
    bpc.set_ylabel("bits per character")
    bpc.legend()
    bpc.grid(alpha=0.3)
    lr.set_ylabel("learning rate")
    lr.set_xlabel("characters seen")
    lr.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def write_png(runs: list[Curves], output: Path) -> Any:
    fig = make_figure(runs)
    tmp = output.with_name(f".{output.name}.tmp.png")
    try:
        fig.savefig(tmp, dpi=120)
        tmp.replace(output)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"could not write {output}: {e.strerror or e}") from None
    return fig
