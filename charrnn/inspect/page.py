"""The page: one HTML file that needs nothing but a browser (no network, no fonts, no scripts from
elsewhere; it opens from file:// and offline). The template (page.html, shipped in the package)
holds the CSS and JavaScript; the data goes inline as one JSON document.

The JSON sits in a <script type="application/json"> element, with <, > and & written as \\u
escapes, so no text (not even "</script>") can end the element early; the script puts each
character on the page with textContent, never as HTML.

Size: activations are int8 (h × 127, or c ÷ its largest |c| × 127, the scale beside it),
base64-encoded, a column after another;
probabilities are whole hundredths of a percent. A page holds at most MAX_PAGE_VALUES
activations (about 11 MB); a longer text keeps the columns the probe ranks first.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from charrnn.inspect.probe import FoundUnits
from charrnn.inspect.units import UnitLayout, UnitRef
from charrnn.model.checkpoint import LoadedModel

if TYPE_CHECKING:
    from charrnn.inspect.visualize import Readings, ShownText

MAX_PAGE_VALUES = 8_000_000
PROB_SCALE = 10_000  # probabilities as whole hundredths of a percent, rounded down (so sums stay ≤ 1)
SURPRISE_SCALE = 100  # surprise in hundredths of a bit
DATA_MARK, TITLE_MARK = "/*CHARRNN_DATA*/", "CHARRNN_TITLE"
# Where a page takes the surprise view shared with `charrnn serve`'s page (surprise.css, surprise.js).
SURPRISE_MARKS = {"/*CHARRNN_SURPRISE_CSS*/": "surprise.css", "/*CHARRNN_SURPRISE_JS*/": "surprise.js"}


def page_columns(
    layout: UnitLayout, r: np.ndarray, found: list[FoundUnits], unit: UnitRef, length: int
) -> list[int]:
    """The columns a page of `length` characters holds: all of them if they fit in MAX_PAGE_VALUES,
    else the chosen unit, the units found, then the others by their largest |r| with any feature."""
    room = max(1, MAX_PAGE_VALUES // length)
    if room >= layout.count:
        return list(range(layout.count))
    first = [layout.index(unit)] + [layout.index(ref) for f in found for ref, _ in f.units]
    strength = np.abs(r).max(axis=0) if len(r) else np.zeros(layout.count)
    rest = np.argsort(-strength, kind="stable").tolist()
    chosen = list(dict.fromkeys(first + rest))[:room]
    return sorted(chosen)


@dataclass(frozen=True)
class PageContent:
    title: str
    document: dict[str, Any]  # what the page's script reads
    columns: list[int]
    columns_dropped: bool

    @classmethod
    def build(
        cls,
        loaded: LoadedModel,
        checkpoint: Path,
        shown: ShownText,
        readings: Readings,
        found: list[FoundUnits],
        layout: UnitLayout,
        unit: UnitRef,
    ) -> PageContent:
        length = len(shown.ids)
        columns = page_columns(layout, readings.r, found, unit, length)
        acts = np.ascontiguousarray(readings.activations[:, columns].T)  # (columns, T) int8
        seen = readings.surprise
        surprise = np.round(seen.bits * SURPRISE_SCALE).astype(np.int64)
        guess_p = np.floor(seen.guess_probs.astype(np.float64) * PROB_SCALE).astype(np.int64)
        cfg = loaded.network.config
        title = f"charrnn visualize: {checkpoint.name}, {shown.source}"
        summary = (
            f"{checkpoint}: {cfg.num_layers} × {cfg.hidden_size} {cfg.cell}, vocabulary {loaded.vocab.size}. "
            f"{length:,} characters of {shown.source}"
            + (" (cut to --max-chars)" if shown.truncated else "")
            + f", {readings.loss.bits_per_char:.3f} bits/char."
        )
        document = {
            "summary": summary,
            "text": shown.text,
            "vocab": loaded.vocab.chars,
            "cell": cfg.cell,
            "layers": cfg.num_layers,
            "hidden": cfg.hidden_size,
            "states": list(layout.states),
            "units_total": layout.count,
            "columns": columns,
            "activations": base64.b64encode(acts.tobytes()).decode("ascii"),
            "scales": [float(f"{x:.4g}") for x in readings.scales[columns].tolist()],
            "surprise": surprise.tolist(),
            "guesses": seen.guess_ids.shape[1],
            "guess_ids": seen.guess_ids.reshape(-1).tolist(),
            "guess_p": guess_p.reshape(-1).tolist(),
            "prob_scale": PROB_SCALE,
            "surprise_scale": SURPRISE_SCALE,
            "features": [
                {
                    "name": f.feature.name,
                    "description": f.feature.description,
                    "varies": f.varies,
                    "units": [[layout.index(ref), round(r, 3)] for ref, r in f.units],
                }
                for f in found
            ],
            # r of every feature with every column in the page, in thousandths
            "r": np.round(readings.r[:, columns] * 1000).astype(np.int64).tolist(),
            "initial": layout.index(unit),
        }
        return cls(title, document, columns, len(columns) < layout.count)


def script_json(document: Any) -> str:
    """JSON that is safe inside <script>: ASCII only, and no <, > or & (written as \\u escapes)."""
    text = json.dumps(document, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _packaged(name: str) -> str:
    return resources.files("charrnn.inspect").joinpath(name).read_text(encoding="utf-8")


def _inlined(page: str, marks: dict[str, str]) -> str:
    for mark, name in marks.items():
        if page.count(mark) != 1:
            raise ValueError(f"a page template needs {mark} exactly once")
        page = page.replace(mark, _packaged(name))
    return page


def with_surprise_view(page: str) -> str:
    """`page` with the shared surprise view inlined at its marks: one colour scale and one tooltip
    for this page and the page of `charrnn serve`."""
    return _inlined(page, SURPRISE_MARKS)


# The playground both sampling pages share (charrnn serve's, charrnn export's): look, form, sliders.
PLAYGROUND_MARKS = {
    "/*CHARRNN_PLAYGROUND_CSS*/": "playground.css",
    "<!--CHARRNN_PLAYGROUND_FORM-->": "playground.html",
    "/*CHARRNN_PLAYGROUND_JS*/": "playground.js",
}


def with_playground(page: str) -> str:
    """`page` with the shared playground inlined at its marks: the prompt, the sliders (temperature,
    top-k, top-p, length), the seed, Generate and Stop, the output, and their look."""
    return _inlined(page, PLAYGROUND_MARKS)


def template() -> str:
    return with_surprise_view(_packaged("page.html"))


def render_page(content: PageContent) -> str:
    head, rest = template().split(TITLE_MARK, 1)
    middle, tail = rest.split(DATA_MARK, 1)
    return head + html.escape(content.title) + middle + script_json(content.document) + tail
