"""The machine a benchmark ran on, in one line, printed beside its figures: the CPU model, what
PyTorch's kernels use on it, its bf16 support and the threads."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from charrnn.runtime import bf16_support, physical_cores


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe_machine() -> str:
    """e.g. `AMD EPYC, 2 cores, AVX512 kernels, bf16 native`."""
    capability = torch.backends.cpu.get_cpu_capability()
    bf16 = bf16_support(torch.device("cpu")).describe()
    return f"{cpu_model()}, {physical_cores()} cores, {capability} kernels, bf16 {bf16}"


def main() -> None:
    print(describe_machine())


if __name__ == "__main__":
    main()
