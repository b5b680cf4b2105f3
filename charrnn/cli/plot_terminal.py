"""`charrnn plot` without matplotlib: the bits-per-character curves drawn with characters."""

from __future__ import annotations

from charrnn.train.curves import Curves

MARKERS = "o*x+#@%&"


def render_chart(runs: list[Curves], width: int = 70, height: int = 16) -> str:
    """A text chart: one marker per run, validation points as the marker, training points as
    '.' in the run's column; axes labelled with bits per character and characters seen."""
    points = [(x, y) for r in runs for s in (r.train_bpc, r.val_bpc) for x, y in s]
    x_max = max(x for x, _ in points) or 1.0
    y_min, y_max = min(y for _, y in points), max(y for _, y in points)
    if y_max - y_min < 1e-9:
        y_min, y_max = y_min - 0.5, y_max + 0.5
    grid = [[" "] * width for _ in range(height)]

    def put(x: float, y: float, mark: str) -> None:
        col = min(width - 1, int(x / x_max * (width - 1)))
        row = min(height - 1, int((y_max - y) / (y_max - y_min) * (height - 1)))
        if grid[row][col] == " " or mark != ".":
            grid[row][col] = mark

    for k, run in enumerate(runs):
        for x, y in run.train_bpc:
            put(x, y, ".")
        for x, y in run.val_bpc:
            put(x, y, MARKERS[k % len(MARKERS)])
    lines = ["bits per character"]
    for i, row in enumerate(grid):
        label = y_max - i * (y_max - y_min) / (height - 1)
        lines.append(f"{label:7.3f} |{''.join(row)}")
    lines.append(" " * 8 + "+" + "-" * width)
    lines.append(" " * 9 + f"0{'characters seen':^{width - 12}}{x_max:,.0f}")
    for k, run in enumerate(runs):
        last = f", last validation {run.val_bpc[-1][1]:.4f}" if run.val_bpc else ""
        lines.append(f"  {MARKERS[k % len(MARKERS)]} {run.name} validation (. training){last}")
    return "\n".join(lines)
