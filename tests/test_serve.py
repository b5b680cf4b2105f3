"""`charrnn serve` through its ASGI application (Starlette's TestClient): the page, the JSON API
giving what `charrnn.Model` gives, and a table of bad requests that each get a 4xx JSON error
while the server goes on serving. The real process is in test_serve_process.py, the page in a
real browser in test_browser.py."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import PHRASE, assert_one_line_error, invoke
from test_visualize import page_data

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")

from fastapi.testclient import TestClient  # noqa: E402

import charrnn  # noqa: E402
from charrnn.inspect.config import VisualizeConfig  # noqa: E402
from charrnn.inspect.visualize import visualize  # noqa: E402
from charrnn.serve.app import SEED_HEADER, create_app  # noqa: E402
from charrnn.serve.config import ServeConfig, limit_blas_threads  # noqa: E402
from charrnn.serve.guards import Busy, Slots  # noqa: E402
from charrnn.serve.run import NotifyingServer, is_loopback  # noqa: E402

LIMITS = ServeConfig(max_length=2000, max_body=4096, max_concurrent=2, max_waiting=1)


@pytest.fixture(scope="module")
def model(overfit_dir: Path) -> charrnn.Model:
    return charrnn.load(overfit_dir / "best.pt")


@pytest.fixture(scope="module")
def client(model: charrnn.Model) -> Iterator[TestClient]:
    with TestClient(create_app(model, LIMITS)) as client:  # runs the lifespan
        yield client


@pytest.fixture(scope="module")
def roomy_client(model: charrnn.Model) -> Iterator[TestClient]:
    """A server whose --max-body lets a field reach its own limit."""
    with TestClient(create_app(model, replace(LIMITS, max_body=1_000_000))) as client:
        yield client


# -- the page ----------------------------------------------------------------------------------
def test_the_page_loads_nothing_from_elsewhere(client: TestClient):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    html = page.text
    assert re.findall(r"""(?:src|href|action)\s*=\s*["'](?!data:|/|#)[^"']*""", html) == []
    assert re.findall(r"https?://|//[a-z]|@import|url\(", html) == []
    for shared in ("surprise.js", "surprise.css"):  # the surprise view of `charrnn visualize`'s page
        assert files("charrnn.inspect").joinpath(shared).read_text(encoding="utf-8") in html
    for path in set(re.findall(r"""fetch\("(/[^"]*)""", html)):  # every address it calls exists
        assert path in {"/api/info", "/api/sample", "/api/surprise"}, path
    for element in (
        "prime",
        "temperature",
        "top-k",
        "top-p",
        "length",
        "seed",
        "stop-button",
        "surprise-text",
    ):
        assert f'id="{element}"' in html


def test_the_openapi_schema_is_served_here_and_lists_the_api(client: TestClient):
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {
        "/api/info",
        "/api/sample",
        "/api/perplexity",
        "/api/score",
        "/api/surprise",
    }
    assert client.get("/docs").status_code == 200


# -- what the API gives ------------------------------------------------------------------------
def test_info_is_the_models_info_and_the_servers_limits(client: TestClient, model: charrnn.Model):
    info = client.get("/api/info").json()
    server = info.pop("server")
    assert info == json.loads(json.dumps(model.info))
    assert server == {**LIMITS.limits(), "running": 0, "waiting": 0}


def _sample(client: TestClient, **body: Any) -> tuple[str, str]:
    answer = client.post("/api/sample", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    return answer.text, answer.headers[SEED_HEADER]


def test_a_sample_is_the_text_model_sample_gives_for_its_seed(client: TestClient, model: charrnn.Model):
    text, seed = _sample(client, prime="the r", length=300, temperature=1.3, top_p=0.95, seed=42)
    assert seed == "42"
    assert text == model.sample(300, 1.3, top_p=0.95, prime="the r", seed=42)


def test_a_beam_sample_is_the_text_model_sample_finds(client: TestClient, model: charrnn.Model):
    text, _ = _sample(client, prime="the r", length=40, beam=3, stop=";")
    assert text == model.sample(40, prime="the r", beam=3, stop=";") and text.endswith(";")
    refused = client.post("/api/sample", json={"length": 5, "beam": 33})
    assert refused.status_code == 422 and "beam" in refused.text


def test_a_sample_without_a_seed_says_which_it_drew_and_that_seed_repeats_it(client: TestClient):
    text, seed = _sample(client, length=200, temperature=2.0)
    again, _ = _sample(client, length=200, temperature=2.0, seed=int(seed))
    assert again == text and len(text) == 200
    assert 0 <= int(seed) < 2**53  # the page (JavaScript numbers) can send it back exactly


def test_a_sample_ends_at_its_stop_text_and_may_be_empty(client: TestClient):
    assert _sample(client, prime="the red deer", temperature=0, length=500, stop=";")[0] == " runs;"
    assert _sample(client, length=0)[0] == ""
    assert _sample(client, prime="thé", skip_unknown=True, length=5, temperature=0)[0] == "e red"


def test_perplexity_score_and_surprise_are_the_models(client: TestClient, model: charrnn.Model):
    text = PHRASE * 2 + "the Deer"
    figures = client.post("/api/perplexity", json={"text": text}).json()
    result = model.perplexity(text)
    assert figures["nats_per_char"] == pytest.approx(result.nats_per_char, rel=1e-12)
    assert (figures["chars_scored"], figures["skipped_unknown"], figures["skipped_chars"]) == (
        len(text) - 2,
        1,
        "D",
    )
    assert set(
        client.post("/api/perplexity", json={"text": text, "baselines": True}).json()[
            "baselines_bits_per_char"
        ]
    ) == {"gzip", "bz2", "lzma"}

    ranked = client.post(
        "/api/score", json={"texts": ["the red dear", "the red deer"], "context": "runs; "}
    ).json()
    expected = model.score(["the red dear", "the red deer"], "runs; ")
    assert [c["text"] for c in ranked["candidates"]] == [s.text for s in expected]
    assert ranked["candidates"][0]["log_prob_nats"] == pytest.approx(-expected[0].nats, rel=1e-12)

    coloured = client.post("/api/surprise", json={"text": text}).json()
    surprises = model.surprise(text, unknown="skip")
    assert [c["char"] for c in coloured["chars"]] == list(text)
    assert [c["bits"] for c in coloured["chars"]] == pytest.approx([s.bits for s in surprises], nan_ok=True)
    assert coloured["chars"][0]["guesses"] == [list(pair) for pair in surprises[0].guesses]
    assert coloured["chars"][-4] == {"char": "D", "bits": None, "guesses": []}
    assert coloured["chars_scored"] == len(text) - 1


def test_the_surprise_api_and_the_visualize_page_say_the_same_of_a_text(
    client: TestClient, model: charrnn.Model, tmp_path: Path
):
    """One computation behind both pages: the same text and checkpoint give the same surprise at
    every character (the first included, after the start of a line) and the same five guesses in
    its place, in /api/surprise and in the data of `charrnn visualize`'s page."""
    text = "the red deer runs; the red dear waits.\nthe deer waits"
    answer = client.post("/api/surprise", json={"text": text}).json()
    report = visualize(
        VisualizeConfig(threads=1), output=tmp_path / "p.html", checkpoint=model.path, text=text
    )
    data = page_data(tmp_path / "p.html")
    assert [c["char"] for c in answer["chars"]] == list(data["text"]) == list(text)
    bits = np.array([c["bits"] for c in answer["chars"]])
    np.testing.assert_allclose(np.array(data["surprise"]) / data["surprise_scale"], bits, atol=0.005 + 1e-4)
    assert report.loss.bits_per_char == pytest.approx(answer["bits_per_char"], rel=1e-4)
    k = data["guesses"]
    for t, c in enumerate(answer["chars"]):
        shown = data["guess_ids"][t * k : (t + 1) * k], data["guess_p"][t * k : (t + 1) * k]
        assert [data["vocab"][i] for i in shown[0]] == [g for g, _ in c["guesses"]]
        np.testing.assert_allclose(
            np.array(shown[1]) / data["prob_scale"], [p for _, p in c["guesses"]], atol=1e-4
        )


# -- bad requests ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bad:
    name: str
    path: str
    body: Any  # an object sent as JSON, or bytes sent as they are
    status: int
    fragment: str  # what the error must say
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)
    method: str = "POST"
    roomy: bool = False  # sent to a server with a large --max-body, so that a field limit is reached


LONG = "the red deer " * 1539  # 20,007 characters: over a text's limit of 20,000


def _chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), 1000):
        yield data[start : start + 1000]


# The command-line flags of what a request sets: an error about a field names the field instead
# (the server's own limits, --max-length and --max-body, are the operator's flags, and named so).
CLI_FLAG = re.compile(
    r"--(prime|length|temperature|top-k|top-p|seed|stop|skip-unknown|unknown|context|text)\b"
)

BAD = [
    Bad(
        "temperature -1",
        "/api/sample",
        {"temperature": -1},
        422,
        "temperature: Input should be greater than or equal to 0, not -1",
    ),
    Bad(
        "temperature NaN",
        "/api/sample",
        b'{"temperature": NaN}',
        422,
        "temperature: Input should be a finite number",
    ),
    Bad(
        "temperature a string",
        "/api/sample",
        {"temperature": "hot"},
        422,
        'temperature: Input should be a valid number, not "hot"',
    ),
    Bad(
        "length 10**9",
        "/api/sample",
        {"length": 10**9},
        422,
        "length must be <= 2,000 (this server's --max-length), not 1,000,000,000",
    ),
    Bad(
        "length negative",
        "/api/sample",
        {"length": -3},
        422,
        "length: Input should be greater than or equal to 0",
    ),
    Bad("length a float", "/api/sample", {"length": 10.5}, 422, "length: Input should be a valid integer"),
    Bad("length true", "/api/sample", {"length": True}, 422, "length: Input should be a valid integer"),
    Bad("top_k 0", "/api/sample", {"top_k": 0}, 422, "top_k: Input should be greater than or equal to 1"),
    Bad("top_p 1.5", "/api/sample", {"top_p": 1.5}, 422, "top_p: Input should be less than or equal to 1"),
    Bad(
        "seed too big",
        "/api/sample",
        {"seed": 2**64},
        422,
        "seed: Input should be less than 18446744073709551616",
    ),
    Bad("stop empty", "/api/sample", {"stop": ""}, 422, "stop: String should have at least 1 character"),
    Bad(
        "prime with unknown characters",
        "/api/sample",
        {"prime": "the D€er"},
        422,
        "the prime has 2 character(s) the model does not know: 'D', '€' (set skip_unknown to drop them)",
    ),
    Bad("a misspelt field", "/api/sample", {"lenght": 10}, 422, "lenght: is not a field of this request"),
    Bad(
        "two wrong fields",
        "/api/sample",
        {"length": "x", "top_k": -1},
        422,
        'length: Input should be a valid integer, not "x"; top_k:',
    ),
    Bad("not JSON", "/api/sample", b"length=10", 400, "the request body is not valid JSON"),
    Bad("truncated JSON", "/api/perplexity", b'{"text": "the', 400, "the request body is not valid JSON"),
    Bad(
        "a JSON list",
        "/api/perplexity",
        [1, 2],
        422,
        "the body must be a JSON object of this request's fields, not [1, 2]",
    ),
    Bad(
        "form data",
        "/api/perplexity",
        b"text=hello",
        415,
        "send the body as JSON, with Content-Type: application/json",
        (("content-type", "application/x-www-form-urlencoded"),),
    ),
    Bad(  # what a page elsewhere can send without asking (no CORS preflight): refused
        "JSON sent as text/plain",
        "/api/perplexity",
        b'{"text": "the red deer"}',
        415,
        "send the body as JSON, with Content-Type: application/json (not 'text/plain')",
        (("content-type", "text/plain"),),
    ),
    Bad("text missing", "/api/perplexity", {}, 422, "text: is required"),
    Bad(
        "text a number", "/api/perplexity", {"text": 42}, 422, "text: Input should be a valid string, not 42"
    ),
    Bad("text of one character", "/api/perplexity", {"text": "t"}, 422, "nothing to predict"),
    Bad(
        "unknown characters refused",
        "/api/perplexity",
        {"text": "the Red", "unknown": "error"},
        422,
        "'R' at character position(s) 4 (set unknown to \"skip\" to drop them)",
    ),
    Bad(
        "unknown policy",
        "/api/perplexity",
        {"text": "the red", "unknown": "drop"},
        422,
        "unknown: Input should be 'skip' or 'error'",
    ),
    Bad(
        "body over --max-body",
        "/api/perplexity",
        {"text": "the red deer " * 400},
        413,
        "takes at most 4,096 (--max-body)",
    ),
    Bad(
        "chunked body over --max-body",
        "/api/perplexity",
        _chunks(json.dumps({"text": "a" * 5000}).encode()),
        413,
        "more than 4,096",
    ),
    Bad("no texts to score", "/api/score", {"texts": []}, 422, "texts: needs at least 1 item(s), not 0"),
    Bad(
        "101 texts to score",
        "/api/score",
        {"texts": ["the"] * 101},
        422,
        "texts: takes at most 100 items, not 101",
    ),
    Bad("an empty text to score", "/api/score", {"texts": ["the", ""]}, 422, "a candidate text is empty"),
    Bad(
        "scoring unknown characters",
        "/api/score",
        {"texts": ["the Red"]},
        422,
        "candidate 1 ('the Red'): 1 character(s) not in the model's vocabulary",
    ),
    Bad("texts not a list", "/api/score", {"texts": "the red"}, 422, "texts: Input should be a valid list"),
    Bad(
        "a context the model cannot read",
        "/api/surprise",
        {"text": "the", "context": "The "},
        422,
        "context: 1 character(s) not in the model's vocabulary: 'T'",
    ),
    Bad("surprise text over --max-body", "/api/surprise", {"text": "a" * 20_001}, 413, "takes at most 4,096"),
    Bad(
        "a prime too long",
        "/api/sample",
        {"prime": LONG},
        422,
        "prime: at most 20,000 characters, not 20,007",
        roomy=True,
    ),
    Bad(
        "a candidate too long",
        "/api/score",
        {"texts": ["the red", LONG]},
        422,
        "texts.1: at most 20,000 characters, not 20,007",
        roomy=True,
    ),
    Bad(
        "a context to score after too long",
        "/api/score",
        {"texts": ["the"], "context": LONG},
        422,
        "context: at most 20,000 characters, not 20,007",
        roomy=True,
    ),
    Bad(
        "a surprise text too long",
        "/api/surprise",
        {"text": LONG},
        422,
        "text: at most 20,000 characters, not 20,007",
        roomy=True,
    ),
    Bad(
        "a surprise context too long",
        "/api/surprise",
        {"text": "the", "context": LONG},
        422,
        "context: at most 20,000 characters, not 20,007",
        roomy=True,
    ),
    Bad("an empty body", "/api/score", b"", 400, "the request body is empty: send a JSON object"),
    Bad(
        "a body that is not UTF-8",
        "/api/perplexity",
        '{"text": "café"}'.encode("latin-1"),
        400,
        "the request body is not UTF-8 (its byte 14, 0xE9, is not valid there): send JSON as UTF-8",
    ),
    Bad("no such page", "/api/nothing", {}, 404, "no such page: /api/nothing"),
    Bad("GET a POST endpoint", "/api/sample", None, 405, "GET is not allowed on /api/sample", method="GET"),
]


@pytest.mark.parametrize("case", BAD, ids=[c.name for c in BAD])
def test_a_bad_request_gets_a_4xx_json_error_and_the_server_goes_on(
    client: TestClient, roomy_client: TestClient, case: Bad
):
    client = roomy_client if case.roomy else client
    content = case.body if isinstance(case.body, (bytes, Iterator)) else json.dumps(case.body).encode()
    answer = client.request(
        case.method, case.path, content=content if case.method == "POST" else None, headers=dict(case.headers)
    )
    assert answer.status_code == case.status, answer.text
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert case.fragment in error and "\n" not in error and "Traceback" not in error
    assert CLI_FLAG.search(error) is None, error  # a field of the request is named as such, not as a flag
    assert client.get("/api/info").json()["server"]["running"] == 0
    assert client.post("/api/sample", json={"length": 5, "seed": 1}).status_code == 200


def test_on_loopback_a_request_naming_another_host_is_refused(model: charrnn.Model):
    """DNS rebinding: a page elsewhere that points its own name at 127.0.0.1 is still refused."""
    allowed = {"127.0.0.1", "localhost", "[::1]"}
    with TestClient(
        create_app(model, LIMITS, allowed_hosts=allowed), base_url="http://127.0.0.1:8000"
    ) as client:
        assert client.get("/api/info").status_code == 200
        for host in ("localhost:8000", "[::1]:8000", "127.0.0.1"):
            assert client.get("/api/info", headers={"host": host}).status_code == 200, host
        for host in ("evil.example:8000", "127.0.0.1.evil.example", "[::2]:8000", ""):
            refused = client.post("/api/sample", json={"length": 5}, headers={"host": host})
            assert refused.status_code == 421, host
            assert refused.json()["error"].startswith(
                "this server answers to 127.0.0.1, [::1], localhost, not to"
            )


def test_the_bad_request_table_covers_every_endpoint_and_status(client: TestClient):
    paths = client.get("/openapi.json").json()["paths"]
    assert {c.path for c in BAD} >= {path for path, operations in paths.items() if "post" in operations}
    assert {c.status for c in BAD} == {400, 404, 405, 413, 415, 422}


# -- the slots ---------------------------------------------------------------------------------
def test_slots_run_some_queue_some_and_refuse_the_rest():
    async def scenario() -> None:
        slots = Slots(running=1, waiting=1)
        first, second = slots.admit(), slots.admit()
        with pytest.raises(Busy, match="busy: 0 computations running and 2 waiting"):
            slots.admit()
        await first.__aenter__()
        waiter = asyncio.create_task(second.__aenter__())
        await asyncio.sleep(0.01)
        assert slots.counts() == {"running": 1, "waiting": 1} and not waiter.done()
        await first.__aexit__(None, None, None)
        await waiter  # the slot passed on, in order
        assert slots.counts() == {"running": 1, "waiting": 0}
        third = slots.admit()
        cancelled = asyncio.create_task(third.__aenter__())
        await asyncio.sleep(0.01)
        cancelled.cancel()  # a client gone while waiting gives its place back
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        second.leave()
        second.leave()  # leaving twice (a stream's end and its response's end) counts once
        assert slots.counts() == {"running": 0, "waiting": 0}
        never = slots.admit()
        never.leave()  # admitted but never started (the client left before the stream began)
        assert slots.counts() == {"running": 0, "waiting": 0} and slots.free._value == 1

    asyncio.run(scenario())


# -- the command -------------------------------------------------------------------------------
def test_listening_anywhere_but_loopback_is_warned_about(overfit_dir: Path, monkeypatch):
    assert all(is_loopback(a) for a in ("127.0.0.1", "127.0.0.2", "::1"))
    assert not any(is_loopback(a) for a in ("0.0.0.0", "::", "192.168.1.20", "example.org"))
    monkeypatch.setattr(NotifyingServer, "run", lambda self, sockets: None)  # bound, then stopped at once
    quiet = invoke("serve", "--checkpoint", str(overfit_dir), "--port", "0")
    exposed = invoke("serve", "--checkpoint", str(overfit_dir), "--host", "0.0.0.0", "--port", "0")
    assert quiet.exit_code == exposed.exit_code == 0 and quiet.stdout == exposed.stdout == ""
    assert quiet.stderr.startswith("serving ") and quiet.stderr.endswith("stopped\n")
    warning = exposed.stderr.splitlines()[0]
    assert warning.startswith("warning: listening on 0.0.0.0:") and "no authentication" in warning
    assert "warning" not in quiet.stderr


def test_blas_gets_one_thread_a_computation_and_numpy_is_not_imported_before_it_is_told(monkeypatch):
    for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")  # what the environment says wins
    limit_blas_threads(1)
    assert [os.environ[v] for v in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")] == [
        "1",
        "3",
        "1",
    ]
    code = "import sys, charrnn.cli.app, charrnn.serve.config; print('numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def test_a_port_in_use_is_one_error_line(overfit_dir: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("serve", "--checkpoint", str(overfit_dir), "--port", str(port))
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}: Address already in use")


def test_without_the_serve_extra_the_command_says_what_to_install(overfit_dir: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if it were not installed
    result = invoke("serve", "--checkpoint", str(overfit_dir))
    assert_one_line_error(
        result, "charrnn serve needs uvicorn, which is not installed: pip install 'charrnn[serve]'"
    )
