"""The server's options and limits, validated on construction; no web framework imported here,
so `charrnn serve --help` and a bad option answer at once."""

from __future__ import annotations

import os
from dataclasses import dataclass

from charrnn.errors import ConfigError, MissingDependency

# Characters of one prime, context, candidate to score or text to colour. Each is read in chunks
# (memory bounded whatever its length), but its time grows with it; a text to colour also gives
# an answer of ~100 bytes a character. A text to measure is bounded by --max-body alone.
MAX_TEXT_CHARS = 20_000
MAX_SCORE_TEXTS = 100  # candidates ranked in one request
MAX_SERVE_BEAM = 32  # hypotheses in one request: each one is a row of the step
EXTRA_HINT = "pip install 'charrnn[serve]'"


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"  # the loopback interface: only this machine can connect
    port: int = 8000  # 0: any free port (the one chosen is printed)
    max_length: int = 10_000  # characters one sample may ask for
    max_body: int = 1_000_000  # bytes of one request body
    max_concurrent: int = 4  # samples and measurements computed at once
    max_waiting: int = 32  # requests that may wait for one of those slots; more are refused (503)
    threads: int = 1  # CPU threads of one computation: requests side by side are the parallelism
    access_log: bool = False  # a line on stderr per request

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigError("--host must not be empty")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be in 0..65535 (0: any free port), not {self.port}")
        for flag, value, least in (
            ("--max-length", self.max_length, 1),
            ("--max-body", self.max_body, 1024),
            ("--max-concurrent", self.max_concurrent, 1),
            ("--max-waiting", self.max_waiting, 0),
            ("--threads", self.threads, 1),
        ):
            if value < least:
                raise ConfigError(f"{flag} must be >= {least}, not {value}")

    def limits(self) -> dict[str, int]:
        """What a client may ask for (GET /api/info): the page sizes its sliders from it."""
        return {
            "max_length": self.max_length,
            "max_body": self.max_body,
            "max_concurrent": self.max_concurrent,
            "max_waiting": self.max_waiting,
            "max_text_chars": MAX_TEXT_CHARS,
            "max_score_texts": MAX_SCORE_TEXTS,
        }


def limit_blas_threads(threads: int) -> None:
    """Give NumPy's BLAS (sampling's per-character step) `threads` threads, unless the environment
    already says how many. It reads this once, when NumPy is imported: call it before.

    A server runs several computations side by side; a BLAS that also spreads each one over
    every core has its threads spin against the others' (docs/performance.md, *One thread a
    computation*)."""
    for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(variable, str(threads))


def check_installed() -> None:
    """FastAPI and uvicorn come with the `serve` extra; without them, one clear error."""
    missing = []
    for module in ("fastapi", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise MissingDependency(
            f"charrnn serve needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            f"not installed: {EXTRA_HINT}"
        )
