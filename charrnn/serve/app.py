"""The web application: the page at /, the JSON API under /api, its OpenAPI schema at
/openapi.json and the interactive docs at /docs.

Every answer comes from `charrnn.Model`, the API the commands use. Model work runs in worker
threads, never on the event loop, so one long request does not hold up the others; a sample is
streamed as plain UTF-8 text as it is generated, and stops when the client goes away.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any, TypeVar

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from charrnn import __version__
from charrnn.api import Model
from charrnn.errors import CharRNNError, ConfigError
from charrnn.generate.sampling import SampleConfig
from charrnn.inspect.page import with_playground, with_surprise_view
from charrnn.measure.surprise import bits_per_char
from charrnn.options import FLUSH_SECONDS, KEYWORDS
from charrnn.serve.config import ServeConfig
from charrnn.serve.guards import (
    Admission,
    BodyLimit,
    Busy,
    HostCheck,
    Slots,
    describe_validation,
    undecodable_body,
)
from charrnn.serve.requests import (
    InfoAnswer,
    PerplexityAnswer,
    PerplexityRequest,
    SampleRequest,
    ScoreAnswer,
    ScoreRequest,
    SurpriseAnswer,
    SurpriseRequest,
)

SEED_HEADER = "X-Charrnn-Seed"
# The page loads nothing from anywhere else, and the browser holds it to that.
PAGE_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'"
)

T = TypeVar("T")


def create_app(
    model: Model,
    config: ServeConfig,
    stopping: threading.Event | None = None,
    allowed_hosts: Collection[str] | None = None,
) -> FastAPI:
    """The application serving `model` within `config`'s limits (run it with uvicorn, or test it
    with Starlette's TestClient, which runs its lifespan). Once `stopping` is set (the server is
    shutting down), samples being streamed end where they are. With `allowed_hosts`, a request
    whose Host header names another host is refused (guards.HostCheck). Its errors name the
    fields of the requests ("skip_unknown"), not the commands' flags ("--skip-unknown")."""
    model = model.with_names(KEYWORDS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.slots = Slots(config.max_concurrent, config.max_waiting)  # in the serving loop
        yield

    app = FastAPI(
        title="charrnn",
        version=__version__,
        summary=f"A character-level language model: {model.path}",
        description="Sample from the model (streamed), measure texts, rank them, colour them by surprise. "
        'Every refusal is a 4xx JSON object `{"error": "…"}`.',
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=config.max_body)
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, allowed=allowed_hosts)  # the outermost: checked first
    _add_error_handlers(app)
    _add_page_and_info(app, model, config)
    _add_sample(app, model, config, stopping or threading.Event())
    _add_measures(app, model)
    return app


def _slots(app: FastAPI) -> Slots:
    slots: Slots = app.state.slots
    return slots


async def _compute(app: FastAPI, work: Callable[[], T]) -> T:
    """`work` in a worker thread, once a slot is free."""
    async with _slots(app).admit():
        return await run_in_threadpool(work)


def _add_page_and_info(app: FastAPI, model: Model, config: ServeConfig) -> None:
    page = with_playground(
        with_surprise_view(files("charrnn.serve").joinpath("page.html").read_text(encoding="utf-8"))
    )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        headers = {"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"}
        return HTMLResponse(page, headers=headers)

    @app.get("/api/info", summary="What the model is, and the limits of this server")
    async def info() -> InfoAnswer:
        """The document `charrnn info --json` prints, and `server`: this server's limits and how
        many computations are running and waiting now."""
        document = await run_in_threadpool(lambda: model.info)
        return {**document, "server": {**config.limits(), **_slots(app).counts()}}


def _add_sample(app: FastAPI, model: Model, config: ServeConfig, stopping: threading.Event) -> None:
    @app.post(
        "/api/sample",
        summary="Generate text, streamed as it is generated",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/plain": {}}, "description": "The text, as UTF-8, in pieces."}},
    )
    async def sample(request: SampleRequest) -> StreamingResponse:
        """The generated text (without the prime), streamed as plain UTF-8 while it is generated;
        closing the connection stops the generation. The seed it was drawn with is in the
        X-Charrnn-Seed header: sending it back repeats the text."""
        if request.length > config.max_length:
            raise ConfigError(
                f"length must be <= {config.max_length:,} (this server's --max-length), "
                f"not {request.length:,}"
            )
        sampling = model.start_sampling(
            SampleConfig(
                length=request.length,
                temperature=request.temperature,
                top_k=request.top_k,
                top_p=request.top_p,
                beam=request.beam,
            ),
            prime=request.prime,
            seed=request.seed,
            stop=request.stop,
            skip_unknown=request.skip_unknown,
        )
        admission = _slots(app).admit()
        pieces = (piece for _, piece in sampling.pieces)
        return TextStream(
            admission,
            _streamed(pieces, admission, stopping),
            media_type="text/plain; charset=utf-8",
            headers={SEED_HEADER: str(sampling.seed), "Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


def _add_measures(app: FastAPI, model: Model) -> None:
    @app.post("/api/perplexity", summary="How well the model predicts a text")
    async def perplexity(request: PerplexityRequest) -> PerplexityAnswer:
        """Every character after the first predicted, the state carried across the whole text (as
        `charrnn perplexity`)."""
        result = await _compute(
            app, lambda: model.perplexity(request.text, unknown=request.unknown, baselines=request.baselines)
        )
        return PerplexityAnswer(
            chars_read=result.chars_read,
            chars_scored=result.chars_scored,
            skipped_unknown=result.skipped,
            skipped_chars=result.skipped_chars,
            total_nats=result.static.total_nats,
            nats_per_char=result.nats_per_char,
            bits_per_char=result.bits_per_char,
            perplexity=result.perplexity,
            seconds=result.seconds,
            baselines_bits_per_char=result.baselines,
        )

    @app.post("/api/score", summary="Rank texts by how probable the model finds them")
    async def score(request: ScoreRequest) -> ScoreAnswer:
        """Most probable first, each after the same context (as `charrnn score`)."""
        scored = await _compute(app, lambda: model.score(request.texts, request.context))
        return ScoreAnswer.model_validate(
            {"context": request.context, "candidates": [s.to_dict() for s in scored]}
        )

    @app.post("/api/surprise", summary="How surprising each character of a text is")
    async def surprise(request: SurpriseRequest) -> SurpriseAnswer:
        """Each character, its surprise in bits (−log₂ p given the context and the text before it;
        the first character is predicted too) and the five characters the model found likeliest
        in its place: the figures `charrnn visualize` colours its page by."""
        chars = await _compute(
            app, lambda: model.surprise(request.text, context=request.context, unknown=request.unknown)
        )
        known = sum(c.bits is not None for c in chars)
        return SurpriseAnswer.model_validate(
            {
                "chars": [c.to_dict() for c in chars],
                "bits_per_char": bits_per_char(chars),
                "chars_scored": known,
            }
        )


class TextStream(StreamingResponse):
    """A streamed answer that gives its slot back however it ends: finished, cut off by the
    client, or never started."""

    def __init__(self, admission: Admission, content: AsyncIterator[str], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.admission.leave()


async def _streamed(
    pieces: Iterator[str], admission: Admission, stopping: threading.Event
) -> AsyncIterator[str]:
    """The pieces, generated in a worker thread once a slot is free and sent every FLUSH_SECONDS.
    When the client goes away the server cancels this generator between two chunks, and the
    chunk being made in the worker thread stops at its next character; so does a stream when
    the server is `stopping`."""
    async with admission:
        gone = threading.Event()
        chunks = _timed_chunks(pieces, FLUSH_SECONDS, lambda: gone.is_set() or stopping.is_set())
        try:
            while (chunk := await anyio.to_thread.run_sync(next, chunks, None)) is not None:
                yield chunk
        finally:
            gone.set()


def _timed_chunks(pieces: Iterable[str], seconds: float, stop: Callable[[], bool]) -> Iterator[str]:
    """The pieces joined into chunks of about `seconds` of generation each, until `stop()`."""
    buffer: list[str] = []
    last = time.monotonic()
    for piece in pieces:
        if stop():
            break
        buffer.append(piece)
        if time.monotonic() - last >= seconds:
            yield "".join(buffer)
            buffer, last = [], time.monotonic()
    if buffer:
        yield "".join(buffer)


def _add_error_handlers(app: FastAPI) -> None:
    """Every refusal as `{"error": "one line"}` with a 4xx status (503 when busy)."""

    def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(*describe_validation(exc.errors(), request.headers.get("content-type", "")))

    @app.exception_handler(CharRNNError)
    async def refused(request: Request, exc: CharRNNError) -> JSONResponse:
        return error(422, str(exc))

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> JSONResponse:
        return error(503, str(exc), {"Retry-After": "1"})

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = {
            400: undecodable_body(exc.__cause__),  # the only 400 raised here: a body FastAPI could not parse
            404: f"no such page: {request.url.path}",
            405: f"{request.method} is not allowed on {request.url.path}",
        }.get(exc.status_code, str(exc.detail))
        return error(exc.status_code, message, getattr(exc, "headers", None))
