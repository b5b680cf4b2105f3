"""Where and how tensors run: devices, and the precision chosen from what the hardware can do
(never from a timing), recorded in a run and reused on resume."""

import pytest
import torch
from conftest import Recorder

from charrnn.errors import ConfigError
from charrnn.model.records import Progress, TrainingRecord
from charrnn.runtime import Bf16Support, bf16_support, choose_device, precision_for
from charrnn.train.loop import train
from charrnn.train.start import run_precision

CPU = torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_a_clear_error():
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        choose_device("cuda")


@pytest.mark.skipif(
    not bf16_support(torch.device("cpu")).runs,
    reason="this CPU cannot run bf16 (test_reproducible.py checks that it is refused cleanly)",
)
def test_bf16_and_fp32_losses_are_close(make_config, tmp_path):
    results = {}
    for precision in ("fp32", "bf16"):
        rec = Recorder()
        train(make_config(checkpoint_dir=str(tmp_path / precision), precision=precision, max_steps=5), [rec])
        results[precision] = rec.losses
    for a, b in zip(results["fp32"], results["bf16"], strict=True):
        assert a == pytest.approx(b, rel=0.02)


NATIVE = Bf16Support(runs=True, native=True, hardware="a CPU with AMX")
EMULATED = Bf16Support(runs=True, native=False, hardware="a CPU with AVX-512")
NONE = Bf16Support(runs=False, native=False, hardware="this CPU (AVX2)")


@pytest.mark.parametrize(
    ("support", "auto", "bf16"),
    [(NATIVE, "bf16", "bf16"), (EMULATED, "fp32", "bf16"), (NONE, "fp32", None)],
)
def test_precision_follows_the_hardware_not_a_timing(support: Bf16Support, auto: str, bf16: str | None):
    assert [precision_for("auto", support) for _ in range(5)] == [auto] * 5
    assert precision_for("fp32", support) == "fp32"
    if bf16 is None:
        with pytest.raises(ConfigError, match=r"--precision bf16 cannot run on this CPU \(AVX2\)"):
            precision_for("bf16", support)
    else:
        assert precision_for("bf16", support) == bf16
    with pytest.raises(ConfigError, match="--precision must be one of"):
        precision_for("fp16", support)


# The CPUs charrnn runs on, as PyTorch reports them: (oneDNN's bf16, AVX512_BF16, AMX, kernels).
CPUS = {
    "AMD EPYC, AVX2 only": (False, False, False, "AVX2"),
    "Intel Xeon, AVX-512 without bf16": (True, False, False, "AVX512"),
    "AMD EPYC, AVX512_BF16": (True, True, False, "AVX512"),
    "Intel Xeon, AMX": (True, True, True, "AVX512"),
    "AMX reported, bf16 kernels missing": (False, False, True, "AVX2"),
}
# what each gives: (bf16 runs, native, what --precision auto chooses)
EXPECTED = {
    "AMD EPYC, AVX2 only": (False, False, "fp32"),
    "Intel Xeon, AVX-512 without bf16": (True, False, "fp32"),
    "AMD EPYC, AVX512_BF16": (True, True, "bf16"),
    "Intel Xeon, AMX": (True, True, "bf16"),
    "AMX reported, bf16 kernels missing": (False, False, "fp32"),
}


@pytest.mark.parametrize("cpu", CPUS)
def test_bf16_support_and_auto_precision_follow_the_cpu_flags(cpu: str, monkeypatch):
    onednn, avx512_bf16, amx, kernels = CPUS[cpu]
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: kernels)
    support = bf16_support(CPU)
    runs, native, auto = EXPECTED[cpu]
    assert (support.runs, support.native) == (runs, native)
    assert support.hardware == f"this CPU ({kernels})"
    assert precision_for("auto", support) == auto
    if runs:
        assert precision_for("bf16", support) == "bf16"
    else:
        with pytest.raises(ConfigError, match=rf"--precision bf16 cannot run on this CPU \({kernels}\)"):
            precision_for("bf16", support)


def _saved(precision: str, asked: str = "auto") -> TrainingRecord:
    """What a checkpoint records of a run trained in `precision`, asked for as `asked`."""
    return TrainingRecord({"precision": asked}, precision, Progress(), None, {}, (), {})


def test_a_resumed_run_keeps_its_recorded_precision(make_config, monkeypatch):
    config = make_config(precision="auto")
    # A machine that would now pick bf16 by itself: the run recorded fp32 and keeps it.
    monkeypatch.setattr("charrnn.train.start.choose_precision", lambda name, device: "bf16")
    assert run_precision(_saved("fp32"), config, CPU) == ("fp32", "")
    # Asked again explicitly (a different --precision on resume): re-decided, with a warning.
    chosen, warning = run_precision(_saved("fp32"), make_config(precision="bf16"), CPU)
    assert chosen == "bf16" and "will not be bitwise equal" in warning
    # A fresh run decides.
    assert run_precision(None, config, CPU) == ("bf16", "")


def test_a_bf16_run_resumed_where_bf16_cannot_run_is_refused_with_the_way_out(make_config, monkeypatch):
    monkeypatch.setattr("charrnn.train.start.bf16_support", lambda device: NONE)
    with pytest.raises(ConfigError, match=r"trained in bf16.*add --precision fp32"):
        run_precision(_saved("bf16"), make_config(precision="auto"), CPU)
