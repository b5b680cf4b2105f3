"""`charrnn serve` as a real process on a free loopback port: a sample streams in pieces, one
long generation holds up no other request, a client that goes away stops its generation, the
queue refuses what it cannot hold and serves again after, and Ctrl-C or SIGTERM end it with 0."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Server, running_server

pytest.importorskip("uvicorn", reason="the serve extra is not installed (pip install -e '.[serve]')")

LONG = 1_000_000  # characters: a minute or more of generation, never meant to finish


@pytest.fixture(scope="module")
def server(overfit_dir: Path) -> Iterator[Server]:
    with running_server(
        overfit_dir, "--max-length", str(LONG), "--max-concurrent", "2", "--max-waiting", "1"
    ) as s:
        yield s


def _connection(server: Server, timeout: float = 30) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)


def _post(server: Server, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    connection = _connection(server)
    connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, (
        json.loads(data) if response.getheader("content-type") == "application/json" else data
    )


def _counts(server: Server) -> dict[str, int]:
    connection = _connection(server)
    connection.request("GET", "/api/info")
    info = json.loads(connection.getresponse().read())
    connection.close()
    return {k: info["server"][k] for k in ("running", "waiting")}


def _open_stream(
    server: Server, length: int = LONG
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """A sample being streamed; its first piece has arrived."""
    connection = _connection(server)
    body = json.dumps({"length": length, "temperature": 1.0, "seed": 1})
    connection.request("POST", "/api/sample", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    assert response.read1(65536)
    return connection, response


def _wait_for(condition, seconds: float = 10) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, "timed out"
        time.sleep(0.05)
    return time.monotonic() - start


def test_a_sample_arrives_in_pieces_as_it_is_generated_and_stops_at_its_length(server: Server):
    connection, response = _open_stream(server, length=20_000)
    pieces = []
    # read no more than 20,000 characters can be (4 bytes each): a stream past its length fails
    # here at once instead of reading a million characters
    while (piece := response.read1(65536)) and sum(map(len, pieces)) <= 4 * 20_000:
        pieces.append(piece)
    connection.close()
    text = b"".join(pieces).decode()
    assert piece == b"", "the stream went on past its length"
    assert len(text) >= 20_000 - 65536 and len(pieces) >= 3  # the first piece was read by _open_stream
    assert response.getheader("X-Charrnn-Seed") == "1"


def test_the_loopback_server_answers_to_its_own_names_only(server: Server):
    for host, status in (
        (f"127.0.0.1:{server.port}", 200),
        (f"localhost:{server.port}", 200),
        ("evil.example", 421),
    ):
        connection = _connection(server)
        connection.request("GET", "/api/info", headers={"Host": host})
        assert connection.getresponse().status == status, host
        connection.close()


def test_a_long_generation_holds_up_no_other_request(server: Server):
    connection, response = _open_stream(server)
    try:
        for _ in range(3):
            start = time.monotonic()
            status, figures = _post(server, "/api/perplexity", {"text": "the red deer runs; " * 20})
            assert status == 200 and figures["chars_scored"] == 379
            assert time.monotonic() - start < 5, "a measurement waited for the generation"
            response.read1(65536)  # the stream goes on meanwhile
    finally:
        connection.close()
    _wait_for(lambda: _counts(server)["running"] == 0)


def test_a_client_that_goes_away_stops_its_generation(server: Server):
    connection, response = _open_stream(server)
    assert _counts(server)["running"] == 1
    connection.close()  # a million characters asked for; a few thousand read
    seconds = _wait_for(lambda: _counts(server)["running"] == 0, seconds=5)
    assert seconds < 5
    assert _post(server, "/api/sample", {"length": 10, "seed": 2})[0] == 200


def test_what_the_queue_cannot_hold_is_refused_then_served_again(server: Server):
    streams = [_open_stream(server), _open_stream(server)]  # both slots
    waiting: list[tuple[int, Any]] = []
    queued = threading.Thread(
        target=lambda: waiting.append(_post(server, "/api/score", {"texts": ["the red"]}))
    )
    queued.start()
    _wait_for(lambda: _counts(server) == {"running": 2, "waiting": 1})
    status, error = _post(server, "/api/perplexity", {"text": "the red deer"})
    assert status == 503 and error["error"].startswith("busy: 2 computations running and 1 waiting")
    streams[0][0].close()  # a slot frees: the queued request runs
    queued.join(10)
    assert waiting and waiting[0][0] == 200
    streams[1][0].close()
    _wait_for(lambda: _counts(server) == {"running": 0, "waiting": 0})
    assert _post(server, "/api/perplexity", {"text": "the red deer"})[0] == 200


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_a_signal_stops_the_server_promptly_with_exit_code_0(overfit_dir: Path, sig: int):
    with running_server(overfit_dir, "--max-length", str(LONG)) as server:
        connection, _ = _open_stream(server)  # a generation in progress does not keep it alive
        start = time.monotonic()
        code = server.stop(sig)
        seconds = time.monotonic() - start
        connection.close()
    stderr = "".join(server.stderr)
    assert code == 0, stderr
    assert seconds < 8, seconds
    assert stderr.rstrip().endswith("stopped") and "Traceback" not in stderr
    assert server.process.stdout is not None and server.process.stdout.read() == ""  # stdout is for data


# -- a refusal reaches every client -------------------------------------------------------------
BIG = 50 * 10**6  # bytes: a body far over the cap, which a client writes whole before it reads


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _urllib(url: str, body: bytes) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _httpx(url: str, body: bytes) -> tuple[int, str]:
    httpx = pytest.importorskip("httpx2", reason="no httpx client installed")
    answer = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=60)
    return answer.status_code, answer.text


def _curl(url: str, body: bytes) -> tuple[int, str]:
    import shutil
    import subprocess
    import tempfile

    if shutil.which("curl") is None:
        pytest.skip("no curl on this machine")
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        f.write(body)
        f.flush()
        done = subprocess.run(
            [
                "curl",
                "-sS",
                "-w",
                "\n%{http_code}",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                f"@{f.name}",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    text, _, status = done.stdout.rpartition("\n")
    return int(status), text


@pytest.fixture(scope="module")
def capped(overfit_dir: Path) -> Iterator[Server]:
    with running_server(overfit_dir, "--max-body", "100000") as s:
        yield s


@pytest.mark.parametrize("client", [_urllib, _httpx, _curl], ids=["urllib", "httpx", "curl"])
def test_a_body_over_the_cap_is_refused_with_a_413_that_every_client_reads(capped: Server, client: Any):
    body = b'{"text": "' + b"a" * (BIG - 12) + b'"}'
    answers: list[tuple[int, str]] = []
    sender = threading.Thread(target=lambda: answers.append(client(capped.url + "api/perplexity", body)))
    sender.start()
    while sender.is_alive():  # the server answers others while it drains the refused body
        status, _ = _post(capped, "/api/score", {"texts": ["the red"]})
        assert status == 200
        sender.join(0.2)
    assert answers, "the client raised instead of reading the refusal"
    status, text = answers[0]
    assert status == 413
    assert json.loads(text) == {
        "error": f"the request body is {len(body):,} bytes; this server takes at most 100,000 (--max-body)"
    }
    assert _peak_rss_mb(capped.process.pid) < 1000  # the refused body was thrown away as it came
