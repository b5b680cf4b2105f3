"""Where and how tensors run: device choice, precision choice, threads."""

from __future__ import annotations

import contextlib
import os
import time
from functools import lru_cache

import numpy as np
import torch

from charrnn.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")


def choose_device(name: str = "auto") -> torch.device:
    if name not in DEVICES:
        raise ConfigError(f"--device must be one of {', '.join(DEVICES)}, not {name!r}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but PyTorch sees no CUDA GPU here")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--device mps was asked for, but this PyTorch has no MPS device")
    return torch.device(name)


@lru_cache(maxsize=1)
def cpu_bf16_speedup() -> float:
    """How much faster a bf16 matrix product runs than an fp32 one on this CPU (measured, ~50 ms).

    On CPUs with AMX tiles bf16 is several times faster; on AVX-512 CPUs without them
    (this project's own machine) bf16 is emulated and ~4x *slower*, so it must be measured.
    """
    size = 384
    timings = {}
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.randn(size, size).to(dtype)
        b = torch.randn(size, size).to(dtype)
        a @ b  # warm-up: first call pays one-off kernel selection
        start = time.perf_counter()
        for _ in range(8):
            a @ b
        timings[dtype] = time.perf_counter() - start
    return timings[torch.float32] / timings[torch.bfloat16]


def choose_precision(name: str, device: torch.device) -> str:
    """Resolve 'auto' to 'bf16' where bf16 autocast is supported and measurably faster, else 'fp32'."""
    if name not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, not {name!r}")
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_bf16_speedup() >= 1.5 else "fp32"
    return "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for the forward pass, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def ids_to_device(ids: np.ndarray, device: torch.device) -> torch.Tensor:
    """Character ids (any integer dtype) as an int64 tensor on `device`, without a device sync:
    a copy from pageable host memory to CUDA waits for the stream, one from pinned memory does not."""
    tensor = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def physical_cores() -> int:
    """Cores available to this process, counting hyper-threads once where Linux tells us."""
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        with open("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list") as f:
            siblings = f.read().strip()
        per_core = len(siblings.replace("-", ",").split(",")) if "," in siblings or "-" in siblings else 1
    except OSError:
        per_core = 1
    return max(1, logical // per_core)


def configure_threads(threads: int | None = None) -> int:
    """One intra-op thread per physical core: hyper-threads only add contention to GEMMs."""
    count = threads or physical_cores()
    torch.set_num_threads(count)
    return count
