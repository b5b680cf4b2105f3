"""Every benchmark script still imports against the package: a renamed function breaks the
suite here rather than a benchmark someone runs months later."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize("script", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_the_benchmark_imports(script: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # benchmarks import each other (precision.matmul_gflops)
    spec = importlib.util.spec_from_file_location(f"bench_{script.stem}", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # as an import would (dataclasses look it up)
    spec.loader.exec_module(module)  # top level only: each runs its work under `if __name__ == "__main__"`
    assert callable(getattr(module, "main", None)), f"{script.name} has no main()"
