"""Where and how tensors run: device choice, precision choice, threads."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np
import torch

from charrnn.errors import ConfigError
from charrnn.options import DEVICES, PRECISIONS, check_choice


def choose_device(name: str = "auto") -> torch.device:
    check_choice("--device", name, DEVICES)
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


@dataclass(frozen=True)
class Bf16Support:
    """What a device can do in bf16, read from the hardware (never timed, so never by chance)."""

    runs: bool  # bf16 autocast can run every cell's kernels here
    native: bool  # the hardware computes in bf16 natively: bf16 is the faster choice
    hardware: str  # how errors name the device

    def describe(self) -> str:
        return "native" if self.native else "emulated" if self.runs else "unsupported"


def _cpu_has(flag: str) -> bool:
    """A CPU feature as PyTorch reads it (cpuinfo); False where this PyTorch cannot tell."""
    probe = getattr(torch.cpu, flag, None)
    return bool(probe()) if callable(probe) else False


def bf16_support(device: torch.device) -> Bf16Support:
    """On a CPU, oneDNN runs bf16 recurrent kernels from AVX-512 up (emulated there) and computes
    them natively with AVX512_BF16 or AMX; with AVX2 alone its bf16 LSTM kernel does not exist."""
    if device.type == "cuda":
        ok = torch.cuda.is_bf16_supported()
        return Bf16Support(runs=ok, native=ok, hardware=f"this GPU ({torch.cuda.get_device_name(device)})")
    if device.type == "cpu":
        runs = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        native = runs and (_cpu_has("_is_avx512_bf16_supported") or _cpu_has("_is_amx_tile_supported"))
        capability = torch.backends.cpu.get_cpu_capability()
        return Bf16Support(runs=runs, native=native, hardware=f"this CPU ({capability})")
    return Bf16Support(runs=False, native=False, hardware=f"the {device.type} device")


def precision_for(name: str, support: Bf16Support) -> str:
    """Resolve a --precision value for a device: 'auto' is bf16 where the device computes bf16
    natively, else fp32; 'bf16' where the device cannot run it is refused before any work."""
    check_choice("--precision", name, PRECISIONS)
    if name == "auto":
        return "bf16" if support.native else "fp32"
    if name == "bf16" and not support.runs:
        raise ConfigError(
            f"--precision bf16 cannot run on {support.hardware}: bf16 recurrent kernels need a CPU with "
            "AVX-512 (native with AVX512_BF16 or AMX) or a GPU with bf16; use --precision fp32 or auto"
        )
    return name


def choose_precision(name: str, device: torch.device) -> str:
    return precision_for(name, bf16_support(device))


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


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a GPU runs ahead of the host), so a clock reads true."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
