"""The page of `charrnn visualize` in a real browser: headless Chromium (Debian's package, driven
by Playwright; no browser is downloaded) opens it from file://, and the text is coloured, a
hover shows the model's own probabilities for the character in its place, the unit picker
recolours, and the page asks for nothing over the network. A screenshot is kept: under the test's temporary
directory, and in $CHARRNN_ARTIFACTS if that is set.

Where Chromium or Playwright is missing, the tests skip with one line saying which.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from conftest import invoke, keep_screenshot
from test_visualize import NASTY, random_checkpoint

from charrnn.model.checkpoint import load_model

TEXT = "the red deer runs; the red dear waits.\nthe deer waits; the red dear runs.\nthe red"


class Visit:
    """A page opened in a fresh tab, with every request and script error it makes recorded."""

    def __init__(self, browser: Any, page_path: Path) -> None:
        self.tab = browser.new_page(viewport={"width": 1000, "height": 700})
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.tab.on("request", lambda request: self.requests.append(request.url))
        self.tab.on("pageerror", lambda error: self.errors.append(str(error)))
        self.tab.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.url = page_path.resolve().as_uri()
        self.tab.goto(self.url)

    def backgrounds(self) -> list[str]:
        return self.tab.eval_on_selector_all("#text span", "spans => spans.map(s => s.style.backgroundColor)")

    def text(self) -> str:
        shown = self.tab.eval_on_selector_all("#text span", "spans => spans.map(s => s.textContent)")
        return "".join(shown).replace("↵\n", "\n")

    def guesses(self, t: int) -> list[tuple[str, float]]:
        self.tab.hover(f'#text span[data-t="{t}"]')
        self.tab.wait_for_selector("#tip:not([hidden])")
        rows = self.tab.eval_on_selector_all(
            "#tip tr.guess", "rows => rows.map(r => [r.dataset.char, Number(r.dataset.p)])"
        )
        return [(ch, p) for ch, p in rows]


def test_the_page_colours_the_text_shows_the_models_guesses_and_recolours(browser, overfit_dir, tmp_path):
    checkpoint = overfit_dir / "last.pt"
    page = tmp_path / "page.html"
    result = invoke("visualize", "--text", TEXT, "--checkpoint", str(checkpoint), "--output", str(page))
    assert result.exit_code == 0, result.stderr
    visit = Visit(browser, page)

    assert visit.errors == []
    assert visit.text() == TEXT
    before = visit.backgrounds()
    assert len(before) == len(TEXT)
    assert sum(b not in ("", "transparent", "rgba(0, 0, 0, 0)") for b in before) > len(TEXT) // 2
    assert len(set(before)) > 10  # shades, not one colour

    # hovering a character: the five likeliest characters in its place, as the model itself gives
    # them reading the text after the start of a line (the surprise view of `charrnn serve` too)
    loaded = load_model(checkpoint)
    ids = torch.from_numpy(loaded.vocab.encode("\n" + TEXT[:-1]).astype(np.int64))
    with torch.no_grad():
        probs = torch.softmax(loaded.network(ids[None])[0][0], dim=-1)  # (T, V): row t predicts TEXT[t]
    for t in (0, 9, 38, len(TEXT) - 1):
        shown = visit.guesses(t)
        assert len(shown) == 5
        assert sum(p for _, p in shown) <= 1.0
        top = probs[t].topk(5)
        assert [ch for ch, _ in shown] == [loaded.vocab.chars[i] for i in top.indices.tolist()]
        for (_, p), expected in zip(shown, top.values.tolist(), strict=True):
            assert 0 <= expected - p <= 1e-4 + 1e-6  # shown to a hundredth of a percent, rounded down
    keep_screenshot(visit.tab, tmp_path, "visualize-hover.png")

    # the unit picker: another unit by layer:unit, then one from the table of units found
    visit.tab.fill("#unit-search", "2:7")
    visit.tab.press("#unit-search", "Enter")
    assert visit.tab.text_content("#unit-name").startswith("unit 2:7 c")
    after = visit.backgrounds()
    assert after != before
    visit.tab.click("#features .chip >> nth=0")
    assert visit.backgrounds() != after
    visit.tab.check('input[value="surprise"]')
    surprise = visit.backgrounds()
    assert all(b not in ("", "transparent", "rgba(0, 0, 0, 0)") for b in surprise)  # the first one too
    assert len(set(surprise)) > 5
    assert "bits (a uniform guess) or more" in visit.tab.text_content("#scale")
    keep_screenshot(visit.tab, tmp_path, "visualize-surprise.png")

    assert visit.requests == [visit.url]  # the page itself, and nothing else
    assert visit.errors == [] and visit.dialogs == []


def test_text_that_looks_like_html_stays_text_in_the_browser(browser, tmp_path):
    checkpoint = random_checkpoint(tmp_path / "nasty.pt", NASTY)
    page = tmp_path / "nasty.html"
    result = invoke("visualize", "--text", NASTY, "--checkpoint", str(checkpoint), "--output", str(page))
    assert result.exit_code == 0, result.stderr
    visit = Visit(browser, page)
    assert visit.text() == NASTY
    assert visit.errors == [] and visit.dialogs == []  # no script from the text ran
    assert visit.tab.eval_on_selector_all("script", "s => s.length") == 2
    assert visit.requests == [visit.url]
