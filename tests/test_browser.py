"""The page of `charrnn serve` in a real browser: headless Chromium (the system's, never a
download) loads it, types a prime, generates, and sees the text stream in and stop at the
requested length, the text `charrnn.Model.sample` gives for the same seed; the Stop button ends
a long sample and the server stops generating; the second tab colours a text by surprise with
its five guesses on hover (the surprise view of `charrnn visualize`'s page); nothing is loaded
from elsewhere. Screenshots are kept as test artefacts (in the test's temporary directory, and
copied to $CHARRNN_ARTIFACTS when it is set)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CHROMIUM, PHRASE, Server, keep_screenshot, running_server

pytest.importorskip("uvicorn", reason="the serve extra is not installed (pip install -e '.[serve]')")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

if CHROMIUM is None:
    pytest.skip("no Chromium on this machine (apt-get install chromium)", allow_module_level=True)

LONG = 1_000_000


@pytest.fixture(scope="module")
def server(overfit_dir: Path) -> Iterator[Server]:
    with running_server(overfit_dir, "--max-length", str(LONG)) as s:
        yield s


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1100, "height": 760})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(server.url)
    page.wait_for_function("() => document.getElementById('model').textContent.includes('lstm')")
    yield page
    assert [url for url in requests if not url.startswith(server.url)] == [], "a request went elsewhere"
    page.close()


def _set_slider(page: Any, slider: str, value: float) -> None:
    page.eval_on_selector(
        f"#{slider}",
        "(e, v) => { e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }",
        value,
    )


def _running(server: Server) -> int:
    with urllib.request.urlopen(server.url + "api/info", timeout=10) as answer:
        return int(json.load(answer)["server"]["running"])


def _record_lengths(page: Any) -> None:
    """Note the length of the generated text at every change, to see it arrive in pieces."""
    page.evaluate(
        """() => {
        const output = document.getElementById('output-text');
        window.lengths = [];
        new MutationObserver(() => window.lengths.push(output.textContent.length))
            .observe(output, {characterData: true, childList: true, subtree: true});
    }"""
    )


def test_a_prime_typed_in_streams_a_sample_that_stops_at_its_length(
    page: Any, overfit_dir: Path, tmp_path: Path
):
    import charrnn

    page.fill("#prime", "the red")
    _set_slider(page, "length", 3000)
    _set_slider(page, "temperature", 1.5)
    page.fill("#seed", "7")
    _record_lengths(page)
    page.click("#generate-button")
    page.wait_for_selector("#output[data-state=done]", timeout=60_000)

    text = page.text_content("#output-text")
    assert text == charrnn.load(overfit_dir).sample(3000, 1.5, prime="the red", seed=7)
    assert page.text_content("#output-prime") == "the red"
    lengths = page.evaluate("window.lengths")
    assert len(set(lengths)) >= 2 and lengths[-1] == 3000, lengths[:20]  # in pieces, up to the length
    assert "done: 3,000 characters" in page.text_content("#generate-status")
    assert "seed 7" in page.text_content("#generate-status")
    keep_screenshot(page, tmp_path, "serve-generate.png")


def test_stop_ends_a_long_sample_and_the_server_stops_generating(page: Any, server: Server, tmp_path: Path):
    _set_slider(page, "length", LONG)
    page.click("#generate-button")
    page.wait_for_function(
        "() => document.getElementById('output-text').textContent.length > 500", timeout=60_000
    )
    assert page.is_enabled("#stop-button") and not page.is_enabled("#generate-button")
    page.click("#stop-button")
    page.wait_for_selector("#output[data-state=stopped]", timeout=10_000)
    stopped_at = len(page.text_content("#output-text"))
    assert 500 < stopped_at < LONG
    assert "stopped:" in page.text_content("#generate-status")
    deadline = time.monotonic() + 5
    while _running(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _running(server) == 0, "the server went on generating for a page that stopped"
    time.sleep(0.3)
    assert len(page.text_content("#output-text")) == stopped_at and page.is_enabled("#generate-button")


def test_the_surprise_tab_colours_each_character_with_the_top_five_on_hover(page: Any, tmp_path: Path):
    page.click("#tab-surprise")
    text = PHRASE * 2 + "the Red deer runs; the red deer waits."
    page.fill("#surprise-text", text)
    page.click("#surprise-button")
    page.wait_for_selector("#coloured[data-state=done]", timeout=30_000)
    spans = page.query_selector_all("#coloured span")
    assert len(spans) == len(text) and "".join(span.text_content() for span in spans) == text
    colours = {span.evaluate("e => e.style.backgroundColor") for span in spans}
    assert len(colours) > 3  # expected and surprising characters look different
    unknown = spans[len(PHRASE) * 2 + 4]
    assert unknown.text_content() == "R" and unknown.get_attribute("class") == "unknown"
    spans[len(PHRASE) * 2 + 14].hover()  # the "u" of a "runs" it has seen many times
    assert page.is_visible("#tooltip")
    assert page.text_content("#tooltip .surprise-head").startswith("u: surprise 0.")
    guesses = page.eval_on_selector_all("#tooltip tr.guess", "rows => rows.map(r => r.dataset.char)")
    assert len(guesses) == 5 and guesses[0] == "u"  # the surprise view of `charrnn visualize`'s page
    assert page.eval_on_selector("#tooltip tr.came", "row => row.dataset.char") == "u"
    unknown.hover()
    assert "not in the model's vocabulary" in page.text_content("#tooltip")
    assert "1 outside the vocabulary" in page.text_content("#surprise-status")
    keep_screenshot(page, tmp_path, "serve-surprise.png")


def test_a_seed_javascript_cannot_hold_exactly_is_refused_on_the_page(page: Any):
    page.fill("#seed", "12345678901234567890")  # past 2**53: a JavaScript number would round it
    page.click("#generate-button")
    page.wait_for_function("() => document.getElementById('generate-status').classList.contains('error')")
    assert "the seed must be a whole number from 0 to 9007199254740991" in page.text_content(
        "#generate-status"
    )
    assert page.get_attribute("#output", "data-state") == "idle"
