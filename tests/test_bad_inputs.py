"""The bad-input matrix: every command, every kind of input a user can get wrong.

Each row asserts: exit code 1 with exactly one `error:` line on stderr naming the problem (or 2
for a usage error Typer reports), no traceback, nothing on stdout, and no file created, changed
or left half-written anywhere in the test's directory. Odd but valid text is in test_odd_text.py.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import typer
from conftest import PHRASE, TINY_ARGS, CodeRunningPickle, invoke, without

from charrnn.cli.app import app
from charrnn.model.checkpoint import VERSION


class Workspace:
    """Files for one row, made on demand inside the test's temporary directory."""

    def __init__(self, root: Path, model: Path) -> None:
        self.root, self.model = root, model
        self.corpus = self.file("corpus.txt", (PHRASE * 40).encode())
        self.ck = str(root / "ck")

    def file(self, name: str, data: bytes) -> str:
        path = self.root / name
        path.write_bytes(data)
        return str(path)

    def path(self, name: str) -> str:
        return str(self.root / name)

    def folder(self, name: str, files: dict[str, bytes]) -> str:
        """A folder holding `files` (relative path → bytes)."""
        for relative, data in files.items():
            (self.root / name / relative).parent.mkdir(parents=True, exist_ok=True)
            (self.root / name / relative).write_bytes(data)
        (self.root / name).mkdir(exist_ok=True)
        return self.path(name)

    def train(self, corpus: str, *options: str) -> list[str]:
        return ["train", corpus, "--checkpoint-dir", self.ck, *TINY_ARGS, *options]

    def flag(self, flag: str, value: str) -> list[str]:
        return ["train", self.corpus, "--checkpoint-dir", self.ck, *without(TINY_ARGS, flag), flag, value]

    def run_dir(self, last_pt: bytes) -> str:
        """A checkpoint directory whose last.pt holds `last_pt`."""
        (self.root / "run").mkdir()
        (self.root / "run" / "last.pt").write_bytes(last_pt)
        return self.path("run")

    def checkpoint(self, name: str, **changes: object) -> str:
        """The trained model's checkpoint with some entries replaced."""
        data = torch.load(self.model, weights_only=True)
        torch.save({**data, **changes}, self.root / name)
        return self.path(name)

    def sample(self, *options: str) -> list[str]:
        return ["sample", "--checkpoint", str(self.model), "--length", "5", *options]

    def perplexity(self, *options: str) -> list[str]:
        return ["perplexity", "--checkpoint", str(self.model), "--no-baselines", *options]

    def score(self, *options: str) -> list[str]:
        return ["score", "--checkpoint", str(self.model), *options]

    def serve(self, *options: str) -> list[str]:
        return ["serve", "--checkpoint", str(self.model), *options]

    def export(self, *options: str) -> list[str]:
        """Export the trained model as ONNX to m.onnx, `options` added (a later one wins)."""
        return [
            "export",
            "--checkpoint",
            str(self.model),
            "--format",
            "onnx",
            "--output",
            self.path("m.onnx"),
            *options,
        ]

    def visualize(self, *options: str) -> list[str]:
        return ["visualize", "--checkpoint", str(self.model), "--threads", "1", *options]

    def corpus_gone(self) -> str:
        """The trained model's checkpoint, saying it was trained on a file that is not there."""
        corpus = torch.load(self.model, weights_only=True)["corpus"]
        gone = {**corpus["files"][0], "path": self.path("gone.txt")}
        return self.checkpoint("gone.pt", corpus={**corpus, "files": [gone]})

    def corpus_grown(self) -> str:
        """The trained model's checkpoint, naming a corpus file changed since, with new characters."""
        corpus = torch.load(self.model, weights_only=True)["corpus"]
        file = corpus["files"][0]
        grown = self.file("grown.txt", Path(file["path"]).read_bytes() + b"QXZ!\n")
        return self.checkpoint("grown.pt", corpus={**corpus, "files": [{**file, "path": grown}]})


@dataclass(frozen=True)
class Case:
    name: str
    args: Callable[[Workspace], list[str]]
    fragment: str  # what the error line must say
    exit_code: int = 1


def _foreign() -> bytes:
    """A PyTorch file of someone else's: a bare state dict."""
    buffer = io.BytesIO()
    torch.save({"state_dict": {"w": torch.zeros(2)}}, buffer)
    return buffer.getvalue()


def _random_bytes(n: int) -> bytes:
    return random.Random(0).randbytes(n)


def _mismatched(w: Workspace) -> str:
    config = torch.load(w.model, weights_only=True)["model"]
    return w.checkpoint("mismatch.pt", model={**config, "hidden_size": config["hidden_size"] + 1})


CASES = [
    # train: the corpus
    Case("train missing corpus", lambda w: w.train(w.path("missing.txt")), "corpus not found"),
    Case("train empty folder", lambda w: w.train(w.folder("empty", {})), "holds no files"),
    Case(
        "train folder of hidden files only",
        lambda w: w.train(w.folder("hidden", {".notes.txt": b"text", ".git/HEAD": b"ref"})),
        "holds no files (hidden ones are left out)",
    ),
    Case(
        "train folder without a text file",
        lambda w: w.train(w.folder("binary", {"a.bin": _random_bytes(64), "b.txt": b"", "c.dat": b"a\0b"})),
        "holds no text file: all 3 files were skipped",
    ),
    Case(
        "train one of several paths missing",
        lambda w: w.train(w.corpus, w.path("no.txt")),
        "corpus not found",
    ),
    Case("train empty corpus", lambda w: w.train(w.file("e.txt", b"")), "corpus is empty"),
    Case("train BOM-only corpus", lambda w: w.train(w.file("b.txt", b"\xef\xbb\xbf")), "corpus is empty"),
    Case("train one-character corpus", lambda w: w.train(w.file("a.txt", b"a")), "too short"),
    Case("train short corpus", lambda w: w.train(w.file("s.txt", b"hello world\n")), "too short"),
    Case(
        "train latin-1 corpus",
        lambda w: w.train(w.file("l.txt", "caf\u00e9 ".encode("latin-1") * 100)),
        "not valid UTF-8: byte 0xe9 at byte offset 3",
    ),
    Case("train binary corpus", lambda w: w.train(w.file("r.bin", _random_bytes(5000))), "not valid UTF-8"),
    Case(
        "train gzip corpus",
        lambda w: w.train(w.file("c.txt.gz", gzip.compress(PHRASE.encode() * 40))),
        "looks gzip-compressed: decompress it first",
    ),
    Case(
        "train UTF-16 corpus",
        lambda w: w.train(w.file("u16.txt", (PHRASE * 40).encode("utf-16"))),
        "looks UTF-16 text",
    ),
    Case(
        "train corpus with NUL bytes",
        lambda w: w.train(w.file("n.bin", b"ELF\x00\x00\x01" * 500)),
        "holds a NUL character (at character 3): a binary file",
    ),
    Case(
        "train seq-len longer than the corpus",
        lambda w: w.flag("--seq-len", "5000"),
        "too short for one window",
    ),
    # train: option values
    Case("train --hidden 0", lambda w: w.flag("--hidden", "0"), "--hidden must be positive"),
    Case("train --layers -1", lambda w: w.flag("--layers", "-1"), "--layers must be positive"),
    Case("train --embed 0", lambda w: w.flag("--embed", "0"), "--embed must be positive"),
    Case("train --batch-size 0", lambda w: w.flag("--batch-size", "0"), "--batch-size must be positive"),
    Case("train --decay-frac 0", lambda w: w.flag("--decay-frac", "0"), "--decay-frac must be in"),
    Case("train --decay-frac 1.5", lambda w: w.flag("--decay-frac", "1.5"), "--decay-frac must be in"),
    Case("train --seq-len 0", lambda w: w.flag("--seq-len", "0"), "--seq-len must be positive"),
    Case("train --dropout 1", lambda w: w.flag("--dropout", "1.0"), "--dropout must be in [0, 1)"),
    Case("train --val-frac 1.5", lambda w: w.flag("--val-frac", "1.5"), "--val-frac must be in (0, 1)"),
    Case("train --lr -1", lambda w: w.flag("--lr", "-1"), "--lr must be positive"),
    Case("train --lr nan", lambda w: w.flag("--lr", "nan"), "--lr must be positive, not nan"),
    Case("train --epochs inf", lambda w: w.flag("--epochs", "inf"), "--epochs must be positive, not inf"),
    Case("train --epochs nan", lambda w: w.flag("--epochs", "nan"), "--epochs must be positive, not nan"),
    Case("train --grad-clip 0", lambda w: w.flag("--grad-clip", "0"), "--grad-clip must be positive"),
    Case("train --max-steps 0", lambda w: w.flag("--max-steps", "0"), "--max-steps must be positive"),
    Case("train --max-minutes -2", lambda w: w.flag("--max-minutes", "-2"), "--max-minutes must be positive"),
    Case("train --threads 0", lambda w: w.flag("--threads", "0"), "--threads must be positive"),
    Case("train --cell transformer", lambda w: w.flag("--cell", "transformer"), "--cell must be one of"),
    Case("train --device tpu", lambda w: w.flag("--device", "tpu"), "--device must be one of"),
    Case("train --precision fp8", lambda w: w.flag("--precision", "fp8"), "--precision must be one of"),
    Case("train --factors -1", lambda w: w.flag("--factors", "-1"), "--factors must be >= 0"),
    Case(
        "train --preset unknown",
        lambda w: w.train(w.corpus, "--preset", "gpt5"),
        "--preset must be one of",
    ),
    Case(
        "train --preset with --resume",
        lambda w: ["train", "--resume", "--preset", "mlstm", "--checkpoint-dir", w.ck],
        "--preset cannot be combined with --resume",
    ),
    Case("train --hidden lots", lambda w: w.flag("--hidden", "lots"), "Invalid value for '--hidden'", 2),
    Case("train --lr fast", lambda w: w.flag("--lr", "fast"), "Invalid value for '--lr'", 2),
    Case("train unknown option", lambda w: w.train(w.corpus, "--hiden", "8"), "No such option", 2),
    # train: where it writes, and where it starts from
    Case(
        "train checkpoint dir under a file",
        lambda w: ["train", w.corpus, "--checkpoint-dir", w.file("f", b"x") + "/ck", *TINY_ARGS],
        "cannot write to checkpoint directory",
    ),
    Case(
        "train checkpoint dir is a file",
        lambda w: ["train", w.corpus, "--checkpoint-dir", w.file("g", b"x"), *TINY_ARGS],
        "cannot write to checkpoint directory",
    ),
    Case(
        "train over an existing run",
        lambda w: ["train", w.corpus, "--checkpoint-dir", w.run_dir(b"an old run"), *TINY_ARGS],
        "already exists: add --resume",
    ),
    Case(
        "train --resume without a run",
        lambda w: ["train", "--resume", "--checkpoint-dir", w.ck],
        "checkpoint not found",
    ),
    Case(
        "train --resume a corrupt run",
        lambda w: ["train", "--resume", "--checkpoint-dir", w.run_dir(b"garbage" * 100)],
        "not a readable checkpoint",
    ),
    Case(
        "train --resume and --init-from",
        lambda w: w.train(w.corpus, "--resume", "--init-from", str(w.model)),
        "cannot be combined",
    ),
    Case(
        "train --init-from missing",
        lambda w: w.train(w.corpus, "--init-from", w.path("nope.pt")),
        "checkpoint not found",
    ),
    Case(
        "train --init-from with another cell",
        lambda w: ["train", w.corpus, "--checkpoint-dir", w.ck, "--init-from", str(w.model), "--cell", "rnn"],
        "--cell cannot change with --init-from",
    ),
    Case(
        "train --replay missing",
        lambda w: ["train", "--replay", w.path("nope"), "--checkpoint-dir", w.ck],
        "checkpoint not found",
    ),
    Case(
        "train --replay and --resume",
        lambda w: ["train", "--replay", str(w.model), "--resume", "--checkpoint-dir", w.ck],
        "--resume and --replay cannot be combined",
    ),
    Case(
        "train --replay with a corpus",
        lambda w: ["train", w.corpus, "--replay", str(w.model), "--checkpoint-dir", w.ck],
        "a corpus cannot be given with --replay",
    ),
    Case(
        "train --replay with another width",
        lambda w: ["train", "--replay", str(w.model), "--checkpoint-dir", w.ck, "--hidden", "77"],
        "--hidden cannot be given with --replay",
    ),
    Case(
        "train --replay a text file",
        lambda w: ["train", "--replay", w.file("x.pt", b"just some text\n" * 20), "--checkpoint-dir", w.ck],
        "not a readable checkpoint",
    ),
    # sample: checkpoints (the safety list) and options
    Case("sample with no checkpoints/ here", lambda w: ["sample"], "train one with `charrnn train`"),
    Case("sample missing checkpoint", lambda w: ["sample", "--checkpoint", w.path("no.pt")], "not found"),
    Case(
        "sample run directory without a checkpoint",
        lambda w: ["sample", "--checkpoint", str(w.root)],
        "no checkpoint in",
    ),
    Case(
        "sample random-bytes checkpoint",
        lambda w: ["sample", "--checkpoint", w.file("r.pt", _random_bytes(3000))],
        "not a readable checkpoint",
    ),
    Case(
        "sample text file as checkpoint",
        lambda w: ["sample", "--checkpoint", w.file("t.pt", b"hello, I am text\n" * 20)],
        "not a readable checkpoint",
    ),
    Case(
        "sample truncated checkpoint",
        lambda w: ["sample", "--checkpoint", w.file("cut.pt", w.model.read_bytes()[:20000])],
        "not a readable checkpoint",
    ),
    Case(
        "sample newer-format checkpoint",
        lambda w: ["sample", "--checkpoint", w.checkpoint("new.pt", format_version=VERSION + 1)],
        "upgrade charrnn",
    ),
    Case(
        "sample tensors that do not match the config",
        lambda w: ["sample", "--checkpoint", _mismatched(w)],
        "is inconsistent: Error(s) in loading state_dict",
    ),
    Case(
        "sample foreign PyTorch file",
        lambda w: ["sample", "--checkpoint", w.checkpoint("foreign.pt", format="someone-else")],
        "not a charrnn checkpoint",
    ),
    Case(
        "sample checkpoint that would run code",
        lambda w: [
            "sample",
            "--checkpoint",
            w.checkpoint("evil.pt", extra=CodeRunningPickle(w.path("pwned"))),
        ],
        "refusing to load",
    ),
    Case(
        "sample plain pickle that would run code",
        lambda w: [
            "sample",
            "--checkpoint",
            w.file("evil.pkl", pickle.dumps(CodeRunningPickle(w.path("pwned")))),
        ],
        "not a readable checkpoint",
    ),
    Case(
        "sample protocol-2 pickle that would run code",
        lambda w: [
            "sample",
            "--checkpoint",
            w.file("evil2.pkl", pickle.dumps(CodeRunningPickle(w.path("pwned")), 2)),
        ],
        "refusing to load",
    ),
    Case("sample --temperature -1", lambda w: w.sample("--temperature", "-1"), "--temperature must be >= 0"),
    Case(
        "sample --temperature nan", lambda w: w.sample("--temperature", "nan"), "--temperature must be >= 0"
    ),
    Case("sample --top-k 0", lambda w: w.sample("--top-k", "0"), "--top-k must be >= 1"),
    Case("sample --top-p 1.5", lambda w: w.sample("--top-p", "1.5"), "--top-p must be in (0, 1]"),
    Case("sample --length -5", lambda w: w.sample("--length", "-5"), "--length must be >= 0"),
    Case("sample --num-samples 0", lambda w: w.sample("--num-samples", "0"), "--num-samples must be >= 1"),
    Case("sample --beam 0", lambda w: w.sample("--beam", "0"), "--beam must be >= 1"),
    Case("sample --beam 2000", lambda w: w.sample("--beam", "2000"), "--beam must be <= 1024"),
    Case(
        "sample --beam with --num-samples",
        lambda w: w.sample("--beam", "2", "--num-samples", "2"),
        "not with --num-samples, --top-k or --top-p",
    ),
    Case("sample --device tpu", lambda w: w.sample("--device", "tpu"), "--device must be one of"),
    Case("sample --stop ''", lambda w: w.sample("--stop", ""), "--stop must not be empty"),
    Case("sample --seed 2**64", lambda w: w.sample("--seed", str(2**64)), "--seed must be in [-2**63"),
    Case(
        "sample --temperature warm",
        lambda w: w.sample("--temperature", "warm"),
        "Invalid value for '--temperature'",
        2,
    ),
    Case(
        "sample prime with unknown characters",
        lambda w: w.sample("--prime", "the \U0001f98c deer"),
        "'\U0001f98c'",
    ),
    Case("sample missing prime file", lambda w: w.sample("--prime-file", w.path("p.txt")), "not found"),
    Case(
        "sample prime file not UTF-8",
        lambda w: w.sample("--prime-file", w.file("p.txt", b"the \xff deer")),
        "not valid UTF-8",
    ),
    Case(
        "sample prime and prime file",
        lambda w: w.sample("--prime", "the", "--prime-file", w.file("p.txt", b"the")),
        "not both",
    ),
    # perplexity
    Case("perplexity missing file", lambda w: w.perplexity(w.path("m.txt")), "file not found"),
    Case("perplexity directory", lambda w: w.perplexity(str(w.root)), "is a directory"),
    Case(
        "perplexity of a corpus changed since, with new characters",
        lambda w: ["perplexity", "--checkpoint", w.corpus_grown(), "--no-baselines"],
        "has changed since",
    ),
    Case("perplexity empty file", lambda w: w.perplexity(w.file("e.txt", b"")), "nothing to predict"),
    Case(
        "perplexity invalid UTF-8",
        lambda w: w.perplexity(w.file("i.txt", b"the red \xc3\x28 deer")),
        "not valid UTF-8: byte 0xc3 at byte offset 8",
    ),
    Case(
        "perplexity gzip file",
        lambda w: w.perplexity(w.file("g.gz", gzip.compress(b"the red deer" * 50))),
        "looks gzip-compressed",
    ),
    Case(
        "perplexity --unknown error",
        lambda w: w.perplexity(w.file("u.txt", b"the Red deer"), "--unknown", "error"),
        "'R' at character position(s) 4",
    ),
    Case("perplexity --segments 0", lambda w: w.perplexity("--segments", "0"), "--segments must be >= 1"),
    Case(
        "perplexity --streams 0 (the old name)",
        lambda w: w.perplexity("--streams", "0"),
        "--segments must be >= 1",
    ),
    Case("perplexity --unknown ignore", lambda w: w.perplexity("--unknown", "ignore"), "--unknown must be"),
    Case(
        "perplexity --dynamic with segments",
        lambda w: w.perplexity("--dynamic", "--segments", "2"),
        "--dynamic reads the text in order",
    ),
    Case(
        "perplexity --dynamic-lr -1",
        lambda w: w.perplexity("--dynamic", "--dynamic-lr", "-1"),
        "--dynamic-lr must be > 0",
    ),
    Case("perplexity --precision fp8", lambda w: w.perplexity("--precision", "fp8"), "--precision must be"),
    Case(
        "perplexity with a text-file checkpoint",
        lambda w: ["perplexity", w.corpus, "--checkpoint", w.file("t.pt", b"not a model\n")],
        "not a readable checkpoint",
    ),
    Case("perplexity with no checkpoints/ here", lambda w: ["perplexity", w.corpus], "no checkpoint in"),
    # info
    Case("info missing checkpoint", lambda w: ["info", w.path("none.pt")], "checkpoint not found"),
    Case("info text file", lambda w: ["info", w.file("t.pt", b"hello\n" * 30)], "not a readable checkpoint"),
    Case("info with no checkpoints/ here", lambda w: ["info"], "no checkpoint in"),
    Case(
        "info two checkpoints",
        lambda w: ["info", str(w.model), "--checkpoint", w.file("other.pt", b"x")],
        "two checkpoints given",
    ),
    # tune
    Case(
        "tune missing corpus",
        lambda w: ["tune", w.path("missing.txt")],
        "missing.txt: no such file or folder",
    ),
    Case("tune zero minutes", lambda w: ["tune", w.corpus, "--minutes", "0"], "--minutes must be positive"),
    Case("tune NaN minutes", lambda w: ["tune", w.corpus, "--minutes", "nan"], "--minutes must be positive"),
    Case(
        "tune negative trial minutes",
        lambda w: ["tune", w.corpus, "--trial-minutes", "-1"],
        "--trial-minutes must be positive",
    ),
    Case(
        "tune a refit as long as the study",
        lambda w: ["tune", w.corpus, "--minutes", "5", "--refit-minutes", "5"],
        "--refit-minutes must be in [0, --minutes)",
    ),
    Case(
        "tune a storage it cannot open",
        lambda w: ["tune", w.corpus, "--storage", "nosuchdb://x/y"],
        "cannot open the study storage nosuchdb://x/y",
    ),
    Case("tune an unknown precision", lambda w: ["tune", w.corpus, "--precision", "fp8"], "--precision"),
    Case("plot a directory without metrics", lambda w: ["plot", str(w.root)], "no metrics.jsonl in"),
    Case("plot with no checkpoints/ here", lambda w: ["plot"], "no metrics.jsonl in checkpoints"),
    # score
    Case("score nothing to score", lambda w: w.score(), "give at least one text"),
    Case(
        "score unknown characters",
        lambda w: w.score("the red deer", "the Red deer"),
        "candidate 2 ('the Red deer'): 1 character(s) not in the model's vocabulary: 'R'",
    ),
    Case("score empty candidate", lambda w: w.score("the red deer", ""), "a candidate text is empty"),
    Case(
        "score unknown context",
        lambda w: w.score("the red deer", "--context", "Once: "),
        "--context: 3 character(s) not in the model's vocabulary",
    ),
    Case("score missing --file", lambda w: w.score("--file", w.path("c.txt")), "not found"),
    # serve (none of these starts a server: the options and the checkpoint are checked first)
    Case("serve --port 70000", lambda w: w.serve("--port", "70000"), "--port must be in 0..65535"),
    Case("serve --port -1", lambda w: w.serve("--port", "-1"), "--port must be in 0..65535"),
    Case("serve --port http", lambda w: w.serve("--port", "http"), "Invalid value for '--port'", 2),
    Case("serve --host ''", lambda w: w.serve("--host", ""), "--host must not be empty"),
    Case("serve --max-length 0", lambda w: w.serve("--max-length", "0"), "--max-length must be >= 1"),
    Case("serve --max-body 10", lambda w: w.serve("--max-body", "10"), "--max-body must be >= 1024"),
    Case(
        "serve --max-concurrent 0",
        lambda w: w.serve("--max-concurrent", "0"),
        "--max-concurrent must be >= 1",
    ),
    Case("serve --max-waiting -1", lambda w: w.serve("--max-waiting", "-1"), "--max-waiting must be >= 0"),
    Case("serve --threads 0", lambda w: w.serve("--threads", "0"), "--threads must be >= 1"),
    Case("serve --device tpu", lambda w: w.serve("--device", "tpu"), "--device must be one of"),
    Case(
        "serve missing checkpoint",
        lambda w: ["serve", "--checkpoint", w.path("no.pt")],
        "checkpoint not found",
    ),
    Case(
        "serve text file as checkpoint",
        lambda w: ["serve", "--checkpoint", w.file("t.pt", b"hello\n" * 30)],
        "not a readable checkpoint",
    ),
    Case("serve with no checkpoints/ here", lambda w: ["serve"], "no checkpoint in checkpoints"),
    Case(
        "score --file not UTF-8",
        lambda w: w.score("--file", w.file("c.txt", b"the red deer\n\xfe\n")),
        "not valid UTF-8",
    ),
    # sample --novelty
    Case(
        "sample --novelty without the training corpus",
        lambda w: ["sample", "--checkpoint", w.corpus_gone(), "--length", "5", "--novelty"],
        "which is not there any more: --novelty looks for the sample in it",
    ),
    Case(
        "sample --novelty on a corpus changed since, with new characters",
        lambda w: ["sample", "--checkpoint", w.corpus_grown(), "--length", "5", "--novelty"],
        "has changed since",
    ),
    # visualize: the text
    Case(
        "visualize unknown characters",
        lambda w: w.visualize("--text", "the Red deer?"),
        "'?', 'R' at character position(s) 4, 12 (--skip-unknown drops them)",
    ),
    Case(
        "visualize empty --text", lambda w: w.visualize("--text", ""), "--text is empty: nothing to visualize"
    ),
    Case(
        "visualize empty file", lambda w: w.visualize(w.file("e.txt", b"")), "is empty: nothing to visualize"
    ),
    Case(
        "visualize nothing the model knows",
        lambda w: w.visualize("--text", "XYZ!", "--skip-unknown"),
        "has no character the model knows",
    ),
    Case("visualize missing file", lambda w: w.visualize(w.path("m.txt")), "file not found"),
    Case(
        "visualize file not UTF-8",
        lambda w: w.visualize(w.file("l.txt", "caf\u00e9".encode("latin-1"))),
        "not valid UTF-8",
    ),
    Case("visualize FILE and --text", lambda w: w.visualize(w.corpus, "--text", "the"), "not both"),
    Case(
        "visualize the default text without the corpus",
        lambda w: ["visualize", "--checkpoint", w.corpus_gone()],
        "not there any more: give a FILE or --text to visualize",
    ),
    Case(
        "visualize the default text of a corpus changed since, with new characters",
        lambda w: ["visualize", "--checkpoint", w.corpus_grown()],
        "has changed since",
    ),
    # visualize: the unit and other options
    Case("visualize --unit past the layers", lambda w: w.visualize("--unit", "3:0"), "has 2 layer(s)"),
    Case(
        "visualize --unit past the units",
        lambda w: w.visualize("--unit", "1:64"),
        "each layer has 64 units, numbered 0 to 63",
    ),
    Case("visualize --unit not L:U", lambda w: w.visualize("--unit", "12"), "--unit must be LAYER:UNIT"),
    Case(
        "visualize --state x",
        lambda w: w.visualize("--unit", "1:0", "--state", "x"),
        "--state must be one of",
    ),
    Case("visualize --state alone", lambda w: w.visualize("--state", "h"), "--state goes with --unit"),
    Case(
        "visualize --max-chars 1", lambda w: w.visualize("--max-chars", "1"), "--max-chars must be between 2"
    ),
    Case(
        "visualize --max-chars too many",
        lambda w: w.visualize("--max-chars", "20001"),
        "--max-chars must be between 2 and 20,000",
    ),
    Case("visualize --top 0", lambda w: w.visualize("--top", "0"), "--top must be between 1 and 50"),
    Case("visualize --threads 0", lambda w: w.visualize("--threads", "0"), "--threads must be positive"),
    # visualize: the checkpoint and the page
    Case("visualize with no checkpoints/ here", lambda w: ["visualize"], "no checkpoint in"),
    Case(
        "visualize missing checkpoint",
        lambda w: ["visualize", "--checkpoint", w.path("no.pt")],
        "checkpoint not found",
    ),
    Case(
        "visualize foreign checkpoint",
        lambda w: ["visualize", "--checkpoint", w.checkpoint("foreign.pt", format="someone-else")],
        "not a charrnn checkpoint",
    ),
    Case(
        "visualize text file as checkpoint",
        lambda w: ["visualize", "--checkpoint", w.file("t.pt", b"not a model\n" * 9)],
        "not a readable checkpoint",
    ),
    Case(
        "visualize --output under a file",
        lambda w: w.visualize("--output", w.file("f", b"x") + "/page.html"),
        "is not a directory",
    ),
    Case(
        "visualize --output in a missing directory",
        lambda w: w.visualize("--output", w.path("no/such/page.html")),
        "is not a directory",
    ),
    Case("visualize --output a directory", lambda w: w.visualize("--output", str(w.root)), "is a directory"),
    # -- export ---------------------------------------------------------------------------------
    Case(
        "export missing checkpoint",
        lambda w: w.export("--checkpoint", w.path("none.pt")),
        "checkpoint not found",
    ),
    Case(
        "export text file as checkpoint",
        lambda w: w.export("--checkpoint", w.file("t.pt", b"hello\n" * 30)),
        "not a readable checkpoint",
    ),
    Case(
        "export foreign checkpoint",
        lambda w: w.export("--checkpoint", w.file("f.pt", _foreign())),
        "is not a charrnn checkpoint",
    ),
    Case(
        "export with no checkpoints/ here",
        lambda w: ["export", "--format", "onnx", "--output", "m.onnx"],
        "no checkpoint in",
    ),
    Case(
        "export --format tflite",
        lambda w: w.export("--format", "tflite"),
        "--format must be one of onnx, safetensors, html, not 'tflite'",
    ),
    Case(
        "export onnx --weights int8",
        lambda w: w.export("--weights", "int8"),
        "--weights is for --format html; onnx is written in fp32",
    ),
    Case(
        "export html --weights fp8",
        lambda w: w.export("--format", "html", "--weights", "fp8"),
        "--weights must be one of fp16, fp32, int8, not 'fp8'",
    ),
    Case(
        "export --output under a file",
        lambda w: w.export("--output", w.file("f", b"x") + "/m.onnx"),
        "could not write",
    ),
    Case(
        "export onnx onto a directory",
        lambda w: w.export("--output", str(w.root)),
        "--output for onnx is a file, and",
    ),
    Case(
        "export safetensors onto a file",
        lambda w: w.export("--format", "safetensors", "--output", w.file("f", b"x")),
        "--output for safetensors is a directory, and",
    ),
    Case(
        "export without --format",
        lambda w: ["export", "--checkpoint", str(w.model), "--output", "m.onnx"],
        "Missing option '--format'",
        exit_code=2,
    ),
]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under `root`: size and modification time."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.stat(os.path.join(dirpath, name))
            found[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_size, st.st_mtime_ns)
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, overfit_dir: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # defaults such as checkpoints/ resolve inside the test's directory
    w = Workspace(tmp_path, overfit_dir / "last.pt")
    args = case.args(w)
    model_before = w.model.read_bytes()
    before = _snapshot(tmp_path)

    result = invoke(*args)

    assert result.exit_code == case.exit_code, (result.exit_code, result.stderr, result.stdout)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    if case.exit_code == 1:
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert case.fragment in " ".join(result.stderr.split()), result.stderr
    assert _snapshot(tmp_path) == before, "a file was created, changed or left behind"
    assert w.model.read_bytes() == model_before


def test_the_matrix_covers_every_command_with_at_least_25_rows():
    commands = {c.name.split()[0] for c in CASES}
    assert commands == set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert len(CASES) >= 25
