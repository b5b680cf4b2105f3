"""`charrnn visualize` through the CLI: the page written for every cell, from every kind of text
source, safe whatever the text holds, within its size; the table on stderr and --json on stdout.
The page in a real browser is in test_visualize_browser.py."""

from __future__ import annotations

import base64
import json
import re
import stat
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PHRASE, invoke, train_tiny

from charrnn.data.vocab import Vocabulary
from charrnn.inspect import page as page_module
from charrnn.inspect.trace import trace
from charrnn.inspect.units import UnitLayout
from charrnn.model.checkpoint import Checkpoint, load_model
from charrnn.model.config import ModelConfig
from charrnn.model.network import CharRNN


class PageParser(HTMLParser):
    """The page as a browser's parser sees it: its elements' attributes and each script's text."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.attributes: list[tuple[str, str, str | None]] = []
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes += [(tag, name, value) for name, value in attrs]
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None


def page_data(path: Path) -> dict:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    (data,) = [text for attrs, text in parser.scripts if attrs.get("type") == "application/json"]
    return json.loads(data)


def random_checkpoint(path: Path, chars: str, cell: str = "lstm", hidden: int = 8) -> Path:
    """A checkpoint of an untrained model over the vocabulary `chars`."""
    torch.manual_seed(0)
    vocab = Vocabulary.from_text(chars)
    config = ModelConfig(vocab.size, cell, num_layers=2, hidden_size=hidden, embed_size=4)
    Checkpoint(config, vocab, CharRNN(config).state_dict(), written_by="test").save(path)
    return path


def visualize(*args: str):
    return invoke("visualize", "--threads", "1", *args)


def test_by_default_the_start_of_the_validation_part_a_table_on_stderr_and_a_page(overfit_dir, tmp_path):
    page = tmp_path / "page.html"
    result = visualize("--checkpoint", str(overfit_dir / "last.pt"), "--output", str(page))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    stderr = " ".join(result.stderr.split())
    assert "line_position" in stderr and "after_punctuation" in stderr and "not in this text" in stderr
    assert f"wrote {page}" in stderr and "bits/char" in stderr
    data = page_data(page)
    assert data["text"] == (PHRASE * 40)[-156:]  # the validation part: the last 10%
    assert stat.S_IMODE(page.stat().st_mode) == 0o644  # a page to share, not a private file
    assert data["units_total"] == len(data["columns"]) == 2 * 2 * 64  # 2 layers × (c, h) × 64
    html = page.read_text(encoding="utf-8")
    for shared in ("surprise.js", "surprise.css"):  # the surprise view of `charrnn serve`'s page
        assert (Path(page_module.__file__).parent / shared).read_text(encoding="utf-8") in html


def test_a_run_directory_is_read_as_the_other_commands_read_it(overfit_dir, tmp_path):
    """--checkpoint DIR: its best.pt, else its last.pt, as sample, perplexity, info and serve take it."""
    only_last = tmp_path / "run"
    only_last.mkdir()
    (only_last / "last.pt").write_bytes((overfit_dir / "last.pt").read_bytes())
    for directory, chosen in ((overfit_dir, "best.pt"), (only_last, "last.pt")):
        page = str(tmp_path / "page.html")
        result = visualize("--text", "the red", "--checkpoint", str(directory), "--output", page, "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["checkpoint"] == str(directory / chosen)


def test_json_is_one_object_on_stdout_with_the_units_found(overfit_dir, tmp_path):
    page = tmp_path / "page.html"
    result = visualize(
        "--checkpoint", str(overfit_dir / "last.pt"), "--output", str(page), "--json", "--top", "2"
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["page"] == str(page) and report["page_bytes"] == page.stat().st_size
    assert report["text"] == {
        "source": f"{overfit_dir.parent / 'tiny.txt'} (validation)",
        "chars": 156,
        "truncated": False,
        "skipped_unknown": 0,
    }
    by_name = {f["feature"]: f for f in report["features"]}
    assert set(by_name) == {
        "in_quotes",
        "bracket_depth",
        "line_position",
        "word_start",
        "speaker_line",
        "after_punctuation",
    }
    assert by_name["in_quotes"] == {**by_name["in_quotes"], "varies": False, "units": []}
    line = by_name["line_position"]["units"]
    assert len(line) == 2 and abs(line[0]["r"]) >= abs(line[1]["r"])
    # the page starts on the strongest unit found, unless --unit says otherwise
    strongest = max((u for f in report["features"] for u in f["units"]), key=lambda u: abs(u["r"]))
    assert report["unit"] == {k: strongest[k] for k in ("layer", "unit", "state")}


def test_a_file_stdin_and_text_give_the_same_page(overfit_dir, tmp_path):
    text = "the red deer runs;\nthe red dear waits."
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    ck = ["--checkpoint", str(overfit_dir / "last.pt"), "--unit", "2:5", "--state", "h"]
    pages = []
    for name, args, stdin in [
        ("file", [str(tmp_path / "t.txt")], None),
        ("stdin", ["-"], text),
        ("text", ["--text", text], None),
    ]:
        page = tmp_path / f"{name}.html"
        result = invoke("visualize", *args, *ck, "--output", str(page), input=stdin)
        assert result.exit_code == 0, result.stderr
        data = page_data(page)
        assert data["text"] == text
        pages.append({k: v for k, v in data.items() if k != "summary"})  # the summary names the source
    assert pages[0] == pages[1] == pages[2]
    assert pages[0]["initial"] == 2 * 64 + 64 + 5  # layer 2's h block, unit 5


def test_a_long_text_is_cut_to_max_chars_with_a_message(overfit_dir, tmp_path):
    (tmp_path / "long.txt").write_text(PHRASE * 40, encoding="utf-8")
    page = tmp_path / "p.html"
    result = visualize(
        str(tmp_path / "long.txt"), "--checkpoint", str(overfit_dir / "last.pt"), "--output", str(page),
        "--max-chars", "100", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "showing the first 100 characters of" in result.stderr
    assert json.loads(result.stdout)["text"]["truncated"] is True
    assert page_data(page)["text"] == (PHRASE * 40)[:100]


def test_skip_unknown_drops_the_characters_and_says_which(overfit_dir, tmp_path):
    page = tmp_path / "p.html"
    result = visualize(
        "--text", "the Red deer!", "--skip-unknown", "--checkpoint", str(overfit_dir / "last.pt"),
        "--output", str(page),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "dropped 2 character(s) outside the vocabulary: '!', 'R'" in " ".join(result.stderr.split())
    assert page_data(page)["text"] == "the ed deer"


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "mrnn", "mlstm"])
def test_every_cell_type(cell, tmp_path):
    ck = train_tiny(tmp_path, cell=cell, max_steps=2, hidden_size=8)
    page = tmp_path / "p.html"
    result = visualize("--checkpoint", str(ck / "last.pt"), "--output", str(page), "--json")
    assert result.exit_code == 0, result.stderr
    states = 2 if cell in ("lstm", "mlstm") else 1
    data = page_data(page)
    assert data["units_total"] == 2 * states * 8 and data["states"] == ["c", "h"][2 - states :]
    assert json.loads(result.stdout)["model"]["cell"] == cell


NASTY = 'a</script><script>alert("x")</script><!-- & &amp; "quoted" \'s\u2028\n<\\/b>\ttab'


def test_no_text_can_break_out_of_the_page(tmp_path):
    """</script>, <!--, &, quotes, U+2028 and newlines in the text stay text: the page still has
    its two scripts, the data parses back to the very text, and nothing refers to another file."""
    ck = random_checkpoint(tmp_path / "nasty.pt", NASTY)
    page = tmp_path / "p.html"
    result = visualize("--text", NASTY, "--checkpoint", str(ck), "--output", str(page))
    assert result.exit_code == 0, result.stderr
    parser = PageParser()
    html = page.read_text(encoding="utf-8")
    parser.feed(html)
    assert [attrs.get("type") for attrs, _ in parser.scripts] == ["application/json", None]
    assert page_data(page)["text"] == NASTY
    assert html.split('id="charrnn-data">')[1].split("</script>")[0].isascii()
    # self-contained: no src/href at all, no CSS that loads anything
    assert [a for a in parser.attributes if a[1] in ("src", "href", "srcset", "action")] == []
    assert not re.search(r"url\(|@import|https?:", html.split('id="charrnn-data"')[0])


def test_a_page_too_big_for_all_units_keeps_the_chosen_and_found_ones(overfit_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(page_module, "MAX_PAGE_VALUES", 156 * 20)
    page = tmp_path / "p.html"
    result = visualize(
        "--checkpoint", str(overfit_dir / "last.pt"), "--output", str(page), "--unit", "1:63", "--json"
    )
    assert result.exit_code == 0, result.stderr
    assert "the page holds 20 of 256 units" in " ".join(result.stderr.split())
    data = page_data(page)
    found = {column for f in data["features"] for column, _ in f["units"]}
    assert len(data["columns"]) == 20 and {data["initial"]} | found <= set(data["columns"])
    assert data["initial"] == 63  # layer 1's c block, unit 63
    assert json.loads(result.stdout)["units_in_page"] == 20


def test_the_pages_activations_are_the_traced_states_to_within_one_step(overfit_dir, tmp_path):
    """Each column decodes (int8 ÷ 127 × its scale) to the unit's state after each character, to
    half a step; a cell state's scale is its largest |c| in the text, an output's is 1."""
    text = "the red deer runs; the red dear waits.\nthe deer"
    page = tmp_path / "p.html"
    result = visualize("--text", text, "--checkpoint", str(overfit_dir / "last.pt"), "--output", str(page))
    assert result.exit_code == 0, result.stderr
    data = page_data(page)
    loaded = load_model(overfit_dir / "last.pt")
    after = loaded.vocab.encode("\n")  # the page reads a text after the start of a line
    traced = torch.cat(
        [c.activations for c in trace(loaded.network, loaded.vocab.encode(text), torch.device("cpu"), after)]
    )
    layout = UnitLayout.of(loaded.network.config)
    acts = np.frombuffer(base64.b64decode(data["activations"]), dtype=np.int8).reshape(
        len(data["columns"]), -1
    )
    for i, column in enumerate(data["columns"]):
        expected = traced[:, column].double().numpy()
        scale = data["scales"][i]
        if layout.is_cell_state(column):
            assert scale == pytest.approx(np.abs(expected).max(), rel=1e-3)
        else:
            assert scale == 1
        np.testing.assert_allclose(acts[i] / 127 * scale, expected, atol=scale / 254 + 1e-3 * scale)
