import pytest
import torch

from charrnn.errors import ConfigError
from charrnn.runtime import choose_device, choose_precision, cpu_bf16_speedup
from charrnn.train import train


def test_auto_precision_follows_the_measured_speed():
    expected = "bf16" if cpu_bf16_speedup() >= 1.5 else "fp32"
    assert choose_precision("auto", torch.device("cpu")) == expected
    assert choose_precision("fp32", torch.device("cpu")) == "fp32"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_a_clear_error():
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        choose_device("cuda")


def test_bf16_and_fp32_losses_are_close(make_config, tmp_path):
    from conftest_helpers import LossRecorder

    results = {}
    for precision in ("fp32", "bf16"):
        rec = LossRecorder()
        train(make_config(checkpoint_dir=str(tmp_path / precision), precision=precision, max_steps=5), [rec])
        results[precision] = rec.losses
    for a, b in zip(results["fp32"], results["bf16"], strict=True):
        assert a == pytest.approx(b, rel=0.02)
