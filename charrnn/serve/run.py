"""Running the server: a listening socket, uvicorn on it, and a clean stop.

The socket is bound and listening before anything is printed, so the address announced on
stderr takes connections at once (port 0 becomes the free port the system chose), and a port
in use is one clear error. Ctrl-C or SIGTERM stops it: uvicorn stops taking connections,
samples being streamed end where they are, measurements in progress get SHUTDOWN_SECONDS to
finish, and the command exits with 0.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn

from charrnn.api import Model
from charrnn.errors import ConfigError
from charrnn.runtime import configure_threads
from charrnn.serve.app import create_app
from charrnn.serve.config import ServeConfig

# The names a browser on this machine reaches a loopback server by (and the address it is bound
# to): a request naming any other host is refused (serve/guards.HostCheck).
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
SHUTDOWN_SECONDS = 3  # what requests still running get, after Ctrl-C, before they are cut off

# uvicorn's own lines and the access log go to stderr: stdout is for data alone.
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(message)s"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "uvicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


class Stopped(Exception):
    """SIGINT or SIGTERM: the way a server is meant to end."""


class NotifyingServer(uvicorn.Server):
    """uvicorn's server, which also tells the application when it starts to shut down, so that
    samples being streamed end then instead of holding the shutdown up."""

    def __init__(self, stopping: threading.Event, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stopping = stopping

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stopping.set()
        super().handle_exit(sig, frame)


def serve(model: Model, config: ServeConfig, tell: Callable[[str], None]) -> None:
    """Serve `model` until Ctrl-C or SIGTERM; what it does is told on stderr through `tell`."""
    configure_threads(config.threads)
    listening = listen(config.host, config.port)
    host, port = listening.getsockname()[:2]
    name = f"[{host}]" if ":" in host else host
    url = f"http://{name}:{port}/"
    private = is_loopback(host)
    stopping = threading.Event()
    server = NotifyingServer(
        stopping,
        uvicorn.Config(
            create_app(model, config, stopping, (LOOPBACK_NAMES | {name}) if private else None),
            log_config=LOG_CONFIG,
            log_level=None,
            access_log=config.access_log,
            timeout_graceful_shutdown=SHUTDOWN_SECONDS,
            http="h11",
            ws="none",
            lifespan="on",
        ),
    )
    if not private:
        tell(exposure_warning(host, port))
    tell(f"serving {model.path} at {url} (the JSON API at {url}docs); Ctrl-C stops")
    try:
        with stop_on_signals():
            server.run(sockets=[listening])
    except Stopped:
        pass
    finally:
        listening.close()
    tell("stopped")


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port and listening; ConfigError if that cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait out TIME_WAIT
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, port: int) -> str:
    """The warning for a server reachable from other machines (it has no authentication)."""
    return (
        f"warning: listening on {host}:{port}, not only on this machine's loopback interface: anyone who "
        "can reach it can use the model and read what its checkpoint says about itself (charrnn serve "
        "has no authentication; the default --host 127.0.0.1 is private)"
    )


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise Stopped while the block runs. uvicorn puts in its own handlers while
    it serves (they start its graceful shutdown) and, once shut down, restores these and sends
    itself the signal again, which ends the block with Stopped instead of a traceback or a kill."""

    def stop(signum: int, frame: object) -> None:
        raise Stopped

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
