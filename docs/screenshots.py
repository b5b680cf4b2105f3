"""Remake the README's screenshots of `charrnn visualize`, `charrnn serve` and the page of
`charrnn export --format html` from a checkpoint.

visualize.png: the strongest line-position unit, a character hovered; serve.png: a sample from
"ROMEO:"; serve-surprise.png: two lines coloured by surprise, a character hovered; export.png: the
exported page's sample from --export-prime (default "ROMEO:"), generated in the browser. The units found
go to stdout as Markdown. Run it where the model was trained (visualize reads its corpus), naming
the checkpoint as the pages should show it. Needs Chromium and Playwright (pip install -e '.[test]').

    python docs/screenshots.py --checkpoint checkpoints/best.pt [--out docs] [--only export]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, NoReturn

# as tests/conftest.py launches it: Debian's chromium, headless, nothing fetched in the background
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync"]
CHROMIUM_ARGS += ["--disable-component-update", "--no-first-run"]
CHARRNN = [sys.executable, "-m", "charrnn"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
VIEW = {"width": 1000, "height": 800}  # visualize.png: the top of the page (the whole is megabytes)
TIP_ROOM = 240  # px the tooltip needs, below or above the hovered character
PRIME, SEED, LENGTH = "ROMEO:", 7, 400
VERSE = "But, soft! what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n"


def fail(message: str) -> NoReturn:
    sys.exit(f"error: {message}")


def last_line(text: str) -> str:
    return (text.strip().splitlines() or ["(nothing said)"])[-1]


def unit_name(unit: dict[str, Any]) -> str:
    return f"{unit['layer']}:{unit['unit']} {unit['state']}"


def markdown(report: dict[str, Any]) -> str:
    """The units found for each feature, with r, as the JSON report gives them."""
    lines = ["| feature | what it is | units (layer:unit state, r) |", "|---|---|---|"]
    for f in report["features"]:
        units = ", ".join(f"{unit_name(u)} {u['r']:+.2f}" for u in f["units"]) or "not in this text"
        description = f["description"].replace("|", "\\|")
        lines.append(f"| {f['feature']} | {description} | {units} |")
    model, text = report["model"], report["text"]
    lines.append(
        f"\n{model['num_layers']}×{model['hidden_size']} {model['cell']}, {text['chars']:,} characters of "
        f"{text['source']}, {report['bits_per_char']:.3f} bits/char."
    )
    return "\n".join(lines)


def chosen_unit(report: dict[str, Any]) -> dict[str, Any]:
    """The strongest line-position unit, else the strongest unit found for any feature."""
    line = [u for f in report["features"] if f["feature"] == "line_position" for u in f["units"]]
    every = [u for f in report["features"] for u in f["units"]]
    if not (line or every):
        fail("visualize found no unit for any feature")
    return max(line or every, key=lambda u: abs(u["r"]))


def middle_of_a_line(tab: Any) -> int:
    """The middle of a long line on screen where the tooltip covers text, not the table of units:
    the first with room below it for the tooltip, else the first with room above, else the first."""
    text_top = tab.eval_on_selector("#text", "e => e.getBoundingClientRect().top")
    spans = tab.eval_on_selector_all(
        "#text span", "s => s.map(e => [e.textContent, e.getBoundingClientRect().top])"
    )
    starts = [0] + [t + 1 for t, (ch, _) in enumerate(spans) if ch.startswith("↵")]
    middles = [(a + b) // 2 for a, b in zip(starts[:-1], starts[1:], strict=True) if b - a > 30]
    tops = {t: spans[t][1] for t in middles if spans[t][1] < VIEW["height"] - 30}
    above = [t for t, top in tops.items() if top - text_top > TIP_ROOM]
    below = [t for t, top in tops.items() if top + TIP_ROOM < VIEW["height"]]
    return (below or above or middles or [len(spans) // 2])[0]


def shoot_visualize(browser: Any, checkpoint: str, out: Path, tmp: Path) -> None:
    page_path = tmp / "visualize.html"
    command = [*CHARRNN, "visualize", "--checkpoint", checkpoint, "--output", str(page_path), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        fail(f"charrnn visualize failed: {last_line(done.stderr).removeprefix('error: ')}")
    report = json.loads(done.stdout)
    unit = chosen_unit(report)
    tab = browser.new_page(viewport=VIEW)
    tab.goto(page_path.resolve().as_uri())
    tab.fill("#unit-search", unit_name(unit))
    tab.press("#unit-search", "Enter")
    if not (tab.text_content("#unit-name") or "").startswith(f"unit {unit_name(unit)}"):
        fail(f"the page did not select unit {unit_name(unit)}")
    tab.hover(f'#text span[data-t="{middle_of_a_line(tab)}"]')
    tab.wait_for_selector("#tip:not([hidden])")
    tab.screenshot(path=str(out / "visualize.png"))
    tab.close()
    print(markdown(report))
    print(f"\nvisualize.png: unit {unit_name(unit)} (r = {unit['r']:+.2f})")


def start_server(checkpoint: str) -> tuple[subprocess.Popen[str], str]:
    """`charrnn serve` on a free port, and its address, read from the line it prints on stderr."""
    command = [*CHARRNN, "serve", "--checkpoint", checkpoint, "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    assert server.stderr is not None
    said = []
    for line in server.stderr:
        said.append(line)
        if found := re.search(r"serving .* at (http://\S+?/) ", line):
            threading.Thread(target=server.stderr.read, daemon=True).start()  # keep the pipe drained
            return server, found.group(1)
    server.wait()
    fail(f"charrnn serve did not start: {last_line(''.join(said)).removeprefix('error: ')}")


def wait_done(tab: Any, box: str, status: str) -> None:
    """Wait for the serve page's `box` to be done (or to fail: then its status line is the error)."""
    tab.wait_for_selector(f"{box}:is([data-state=done], [data-state=error])", timeout=120_000)
    if tab.get_attribute(box, "data-state") != "done":
        fail(f"the serve page says: {tab.text_content(status)}")


def shoot_serve(browser: Any, checkpoint: str, out: Path) -> None:
    server, url = start_server(checkpoint)
    try:
        tab = browser.new_page(viewport={"width": 900, "height": 700})
        tab.goto(url)
        tab.wait_for_function("() => !document.getElementById('model').textContent.startsWith('loading')")
        tab.fill("#prime", PRIME)
        tab.eval_on_selector(
            "#length", "(e, v) => { e.value = v; e.dispatchEvent(new Event('input')) }", LENGTH
        )
        tab.fill("#seed", str(SEED))
        tab.click("#generate-button")
        wait_done(tab, "#output", "#generate-status")
        tab.screenshot(path=str(out / "serve.png"), full_page=True)
        tab.click("#tab-surprise")
        tab.fill("#surprise-text", VERSE)
        tab.click("#surprise-button")
        wait_done(tab, "#coloured", "#surprise-status")
        tab.hover(f'#coloured span[data-i="{VERSE.index("Juliet")}"]')
        tab.wait_for_selector("#tooltip:not([hidden])")
        tab.screenshot(path=str(out / "serve-surprise.png"), full_page=True)
        tab.close()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            fail("charrnn serve did not stop within 15 s of Ctrl-C (killed)")


def shoot_export(browser: Any, checkpoint: str, out: Path, tmp: Path, prime: str) -> None:
    page = tmp / "model.html"
    done = subprocess.run(
        [*CHARRNN, "export", "--checkpoint", checkpoint, "--format", "html", "--output", str(page)],
        capture_output=True,
        text=True,
        env=ENV,
    )
    if done.returncode != 0:
        fail(f"charrnn export failed: {last_line(done.stderr)}")
    tab = browser.new_page(viewport={"width": 900, "height": 700})
    tab.goto(page.as_uri())
    tab.fill("#prime", prime)
    tab.eval_on_selector("#length", "(e, v) => { e.value = v; e.dispatchEvent(new Event('input')) }", LENGTH)
    tab.fill("#seed", str(SEED))
    tab.click("#generate-button")
    wait_done(tab, "#output", "#generate-status")
    tab.screenshot(path=str(out / "export.png"), full_page=True)
    tab.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="the checkpoint to show (as the pages name it)")
    here = Path(__file__).resolve().parent
    parser.add_argument("--out", type=Path, default=here, help=f"where the PNGs go (default: {here})")
    parser.add_argument("--only", choices=("visualize", "serve", "export"), help="remake one of them")
    parser.add_argument("--export-prime", default=PRIME, help="the exported page's prime")
    args = parser.parse_args()
    chromium = os.environ.get("CHARRNN_CHROMIUM") or shutil.which("chromium")  # as tests/conftest.py
    if chromium is None:
        fail("no Chromium on this machine (apt-get install chromium, or set CHARRNN_CHROMIUM)")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        fail("playwright is not installed (pip install playwright; no browser download is needed)")
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as tmp:
        try:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        except Error as e:
            fail(f"{chromium} would not start: {str(e).splitlines()[0]}")
        shots = {
            "visualize": ["visualize.png"],
            "serve": ["serve.png", "serve-surprise.png"],
            "export": ["export.png"],
        }
        if args.only in (None, "visualize"):
            shoot_visualize(browser, args.checkpoint, args.out, Path(tmp))
        if args.only in (None, "serve"):
            shoot_serve(browser, args.checkpoint, args.out)
        if args.only in (None, "export"):
            shoot_export(browser, args.checkpoint, args.out, Path(tmp), args.export_prime)
        browser.close()
    made = [name for shot, names in shots.items() if args.only in (None, shot) for name in names]
    names = ", ".join(str(args.out / name) for name in made)
    print(f"wrote {names}", file=sys.stderr)


if __name__ == "__main__":
    main()
