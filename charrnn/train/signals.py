"""Graceful stops: SIGINT/SIGTERM ask training to stop after the current step and save.

A second signal of the same kind gets Python's default behaviour back (a hard stop), so a user
is never trapped in a run that will not end.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Set by a signal handler (or by a caller) and polled by the training loop once per step."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def request(self, signum: int = signal.SIGINT) -> None:
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell convention for a process ended by a signal: 128 + its number."""
        return 128 + (self.signum or signal.SIGINT)


@contextlib.contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[StopRequest]:
    if threading.current_thread() is not threading.main_thread():
        yield stop  # only the main thread may install handlers; callers poll `stop` themselves
        return
    previous: dict[int, Any] = {int(s): signal.getsignal(s) for s in SIGNALS}

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.request(signum)
        signal.signal(signum, previous[signum])  # a second signal stops hard

    for sig in SIGNALS:
        signal.signal(sig, handle)
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
