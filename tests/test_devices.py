"""--device names to torch devices, and a clear error where CUDA is asked for but absent."""

import pytest
import torch

from anotrans.errors import ConfigError
from anotrans.utils.devices import resolve_device

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")


@no_cuda
def test_auto_is_cpu_without_a_gpu() -> None:
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@no_cuda
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_names_the_option(name: str) -> None:
    with pytest.raises(ConfigError, match=f"--device {name}: .*no CUDA GPU"):
        resolve_device(name)
