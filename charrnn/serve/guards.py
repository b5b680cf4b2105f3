"""What keeps the server serving whatever it is sent: a limit on the size of a request body, a
bounded number of slots for model work with a bounded queue in front of them, and every
refusal as a JSON object `{"error": "one clear line"}`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Collection, Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}, separators=(",", ":")).encode()


async def send_error(send: Send, status: int, message: str) -> None:
    """A whole JSON error response, for middleware that answers before the application does."""
    body = error_body(message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# A refused body is read on and thrown away, up to this many bytes and seconds, before the 413
# is sent: a client that writes its whole body before it reads (Python's urllib, httpx) would
# otherwise see its connection reset, and never the refusal. Beyond either bound the server
# answers at once and closes.
DRAIN_BYTES = 128 * 2**20
DRAIN_SECONDS = 30.0


async def drain(receive: Receive, limit: int) -> bool:
    """Read and discard a request body's remaining messages, up to `limit` bytes in all; whether
    it ended (False: it was larger, or the client left)."""
    size = 0
    while size <= limit:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return size <= limit
    return False


class BodyLimit:
    """Refuse (413) a request whose body is over `max_bytes`, by its Content-Length before the
    application reads a byte of it, or as it arrives when it is sent in chunks without one; the
    refused body is drained (bounded: DRAIN_BYTES, DRAIN_SECONDS) so that every client reads the
    refusal, unless the client asked to be told first (Expect: 100-continue) and sent nothing.
    A body within the limit is read whole here and handed on, so the application never sees a
    partial one."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _too_large(self, size: str) -> str:
        return f"the request body is {size} bytes; this server takes at most {self.max_bytes:,} (--max-body)"

    async def _refuse(self, receive: Receive, send: Send, size: str, remaining: int, sent: bool) -> None:
        """The 413, once the `remaining` bytes still to come (at most) are drained, if the client
        `sent` its body without waiting to be told (else it sends nothing more: none to drain)."""
        if sent and remaining <= DRAIN_BYTES:
            with contextlib.suppress(asyncio.TimeoutError):  # TimeoutError from Python 3.11
                await asyncio.wait_for(drain(receive, remaining), DRAIN_SECONDS)
        await send_error(send, 413, self._too_large(size))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        sent = headers.get(b"expect", b"").lower() != b"100-continue"
        if declared is not None:
            if not declared.isdigit():
                await send_error(
                    send, 400, f"Content-Length is not a number: {declared.decode(errors='replace')!r}"
                )
                return
            if int(declared) > self.max_bytes:
                await self._refuse(receive, send, f"{int(declared):,}", int(declared), sent)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before it finished sending
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                more = message.get("more_body", False)
                await self._refuse(
                    receive, send, f"more than {self.max_bytes:,}", DRAIN_BYTES if more else 0, more
                )
                return
            if not message.get("more_body", False):
                break
        body, handed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal handed
            if not handed:
                handed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # then what the server says next: a disconnect, when it comes

        await self.app(scope, replay, send)


class HostCheck:
    """Refuse (421) a request whose Host header is not one of `allowed` (names without a port).

    A server on the loopback interface answers this machine alone, but a web page elsewhere can
    point a name it controls at 127.0.0.1 (DNS rebinding) and then call the API as if it were
    the page's own origin; the Host header still carries that name, so it is refused."""

    def __init__(self, app: ASGIApp, allowed: Collection[str]) -> None:
        self.app, self.allowed = app, set(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            name = host[: host.find("]") + 1] if host.startswith("[") else host.split(":")[0]  # no port
            if name not in self.allowed:
                names = ", ".join(sorted(self.allowed))
                await send_error(send, 421, f"this server answers to {names}, not to the host {host!r}")
                return
        await self.app(scope, receive, send)


class Busy(Exception):
    """Every slot is taken and the queue in front of them is full."""


class Slots:
    """At most `running` computations with the model at once (samples and measurements); up to
    `waiting` more requests queue for a slot, in order; any beyond those are refused (Busy).

    Made inside the event loop that uses it (the application's lifespan)."""

    def __init__(self, running: int, waiting: int) -> None:
        self.capacity, self.queue = running, waiting
        self.free = asyncio.Semaphore(running)
        self.running = 0
        self.waiting = 0

    def admit(self) -> Admission:
        """Let a request in, or refuse it at once: it then waits for a slot with `async with`."""
        if self.running + self.waiting >= self.capacity + self.queue:
            raise Busy(
                f"busy: {self.running} computations running and {self.waiting} waiting, the most this server "
                f"takes (--max-concurrent {self.capacity}, --max-waiting {self.queue}); try again shortly"
            )
        self.waiting += 1
        return Admission(self)

    def counts(self) -> dict[str, int]:
        return {"running": self.running, "waiting": self.waiting}


class Admission:
    """A request let in: it waits for a slot (`async with`), holds it for the block, and leaves
    exactly once, whether it ran, was cancelled while waiting, or never got to wait at all."""

    def __init__(self, slots: Slots) -> None:
        self.slots = slots
        self.state = "waiting"

    async def __aenter__(self) -> None:
        try:
            await self.slots.free.acquire()
        except BaseException:  # cancelled while waiting: the client went away
            self.leave()
            raise
        self.slots.waiting -= 1
        self.slots.running += 1
        self.state = "running"

    async def __aexit__(self, *exc_info: object) -> None:
        self.leave()

    def leave(self) -> None:
        if self.state == "waiting":
            self.slots.waiting -= 1
        elif self.state == "running":
            self.slots.running -= 1
            self.slots.free.release()
        self.state = "left"


EMPTY_BODY = "the request body is empty: send a JSON object of this request's fields (GET /docs lists them)"


def describe_validation(errors: Sequence[Any], content_type: str) -> tuple[int, str]:
    """pydantic's errors about a request body as (status, one line): 415 for a body not sent as
    JSON, 400 for one that is empty or not JSON at all, else 422 naming each field and what is
    wrong with it."""
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = error.get("ctx", {}).get("error", "")
            return 400, f"the request body is not valid JSON{': ' + reason if reason else ''}"
    parts = []
    for error in errors[:5]:
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        if not location:  # the body as a whole
            if error.get("type") == "missing":
                return 400, EMPTY_BODY
            if "json" not in content_type:
                return (
                    415,
                    f"send the body as JSON, with Content-Type: application/json (not {content_type!r})",
                )
            return (
                422,
                f"the body must be a JSON object of this request's fields, not {_short(error.get('input'))}",
            )
        parts.append(f"{'.'.join(location)}: {_what_is_wrong(error)}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return 422, "; ".join(parts) + more


def _what_is_wrong(error: dict[str, Any]) -> str:
    """What is wrong with one field, in a few words: pydantic's message, or a plainer one."""
    kind, ctx = error.get("type"), error.get("ctx", {})
    value: Any = error.get("input")
    if kind == "extra_forbidden":
        return "is not a field of this request"
    if kind == "missing":
        return "is required"
    if kind == "string_too_long":
        return f"at most {ctx['max_length']:,} characters, not {len(value):,}"
    if kind == "too_short":
        return f"needs at least {ctx['min_length']:,} item(s), not {ctx['actual_length']:,}"
    if kind == "too_long":
        return f"takes at most {ctx['max_length']:,} items, not {ctx['actual_length']:,}"
    message = str(error.get("msg", "is not valid"))
    return message + (f", not {_short(value)}" if "input" in error else "")


def undecodable_body(cause: BaseException | None) -> str:
    """Why a body that FastAPI could not parse (a 400 with no reason) was refused."""
    if isinstance(cause, UnicodeDecodeError):
        byte = cause.object[cause.start]
        return (
            f"the request body is not UTF-8 (its byte {cause.start + 1:,}, 0x{byte:02X}, is not valid "
            "there): send JSON as UTF-8"
        )
    return "the request body could not be read" + (f": {cause}" if cause is not None else "")


def _short(value: Any) -> str:
    try:
        text = json.dumps(value)  # NaN and Infinity as JavaScript writes them
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
