import pytest
import torch

from charrnn.errors import ConfigError
from charrnn.runtime import bf16_support, choose_device
from charrnn.train.loop import train


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_a_clear_error():
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        choose_device("cuda")


@pytest.mark.skipif(
    not bf16_support(torch.device("cpu")).runs,
    reason="this CPU cannot run bf16 (test_reproducible.py checks that it is refused cleanly)",
)
def test_bf16_and_fp32_losses_are_close(make_config, tmp_path):
    from conftest_helpers import LossRecorder

    results = {}
    for precision in ("fp32", "bf16"):
        rec = LossRecorder()
        train(make_config(checkpoint_dir=str(tmp_path / precision), precision=precision, max_steps=5), [rec])
        results[precision] = rec.losses
    for a, b in zip(results["fp32"], results["bf16"], strict=True):
        assert a == pytest.approx(b, rel=0.02)
