"""The page of `charrnn export --format html` in a real browser (Debian's chromium, as the other
browser tests): opened from file://, it samples what charrnn samples (greedy, fp32 weights, every
cell), repeats itself for a seed, streams into the page with a working Stop button, and asks for
nothing from anywhere. A screenshot is kept as a test artefact."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CHROMIUM, invoke, keep_screenshot

from charrnn.model.config import CELLS

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

if CHROMIUM is None:
    pytest.skip("no Chromium on this machine (apt-get install chromium)", allow_module_level=True)

PRIME = "the red "


def write_page(checkpoint: Path, output: Path, weights: str) -> Path:
    result = invoke(
        "export",
        "--checkpoint",
        str(checkpoint),
        "--format",
        "html",
        "--output",
        str(output),
        "--weights",
        weights,
    )
    assert result.exit_code == 0, result.stderr
    return output


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    """open_page(path) → a tab showing it; at the end, no request but the page itself was made."""
    tabs: list[tuple[Any, list[str], str]] = []

    def open_(path: Path) -> Any:
        tab = browser.new_page(viewport={"width": 1100, "height": 760})
        requests: list[str] = []
        errors: list[str] = []
        tab.on("request", lambda request: requests.append(request.url))
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(path.as_uri())
        tab.wait_for_function("() => window.charrnn !== undefined")
        assert errors == []
        tabs.append((tab, requests, path.as_uri()))
        return tab

    yield open_
    for tab, requests, url in tabs:
        assert [u for u in requests if u != url] == [], "a request left the page"
        tab.close()


def _sample(tab: Any, **options: Any) -> str:
    return tab.evaluate("async (options) => await window.charrnn.sample(options)", options)


@pytest.mark.parametrize("cell", CELLS)
def test_the_page_greedy_text_is_charrnn_sample_s(
    cell: str, every_cell: dict, open_page: Any, tmp_path: Path
):
    tab = open_page(write_page(every_cell[cell], tmp_path / "model.html", "fp32"))
    cli = invoke(
        "sample",
        "--checkpoint",
        str(every_cell[cell]),
        "--prime",
        PRIME,
        "--temperature",
        "0",
        "--length",
        "200",
    )
    assert cli.exit_code == 0, cli.stderr
    page = _sample(tab, prime=PRIME, length=200, temperature=0)
    assert len(page) == 200
    assert PRIME + page + "\n" == cli.stdout


def test_the_same_seed_gives_the_same_text_and_the_ui_streams_it(
    every_cell: dict, open_page: Any, tmp_path: Path
):
    tab = open_page(write_page(every_cell["gru"], tmp_path / "model.html", "fp16"))
    options = {"prime": "the ", "length": 300, "temperature": 1.0, "topK": 10, "topP": 0.95, "seed": 7}
    first = _sample(tab, **options)
    assert first == _sample(tab, **options) and len(first) == 300
    assert first != _sample(tab, **{**options, "seed": 8})
    assert "gru" in tab.text_content("#model") and "fp16" in tab.text_content("#model")
    tab.fill("#prime", "the ")
    tab.fill("#seed", "7")
    for slider, value in (("temperature", 1.0), ("top-k", 10), ("top-p", 0.95), ("length", 300)):
        tab.eval_on_selector(
            f"#{slider}", "(e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }", value
        )
    tab.click("#generate-button")
    tab.wait_for_function("() => document.getElementById('output').dataset.state === 'done'")
    assert tab.text_content("#output-text") == first
    assert "300 characters" in tab.text_content("#generate-status")
    keep_screenshot(tab, tmp_path, "export-page.png")


def test_stop_ends_a_long_sample_and_bad_options_are_refused(
    every_cell: dict, open_page: Any, tmp_path: Path
):
    tab = open_page(write_page(every_cell["lstm"], tmp_path / "model.html", "int8"))
    tab.eval_on_selector("#length", "(e) => { e.max = 10000000; e.value = 10000000; }")
    tab.click("#generate-button")
    tab.wait_for_function("() => document.getElementById('output-text').textContent.length > 0")
    tab.click("#stop-button")
    tab.wait_for_function("() => document.getElementById('output').dataset.state === 'stopped'")
    assert 0 < len(tab.text_content("#output-text")) < 10_000_000
    for options, message in (({"prime": "€"}, "does not know"), ({"temperature": -1}, "temperature")):
        error = tab.evaluate(
            "async (o) => { try { await window.charrnn.sample(o); return null; }"
            " catch (e) { return e.message; } }",
            options,
        )
        assert error is not None and message in error
