"""FLOP counting that also sees CPU attention.

``torch.utils.flop_counter`` has no formula for the CPU kernel behind
``scaled_dot_product_attention`` (``_scaled_dot_product_flash_attention_for_cpu``), so it would
report attention as free; this registers the same formula it uses for the CUDA kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

_aten = torch.ops.aten


# Formulas receive shapes, not tensors (FlopCounterMode maps tensors to their shapes first).
def _cpu_sdpa_forward(query: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_sdpa_backward(grad_out: Any, query: Any, key: Any, value: Any, *args: Any, **kwargs: Any) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


CUSTOM_FLOPS: dict[Any, Callable[..., int]] = {
    _aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_forward,
    _aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward,
}


def flop_counter() -> FlopCounterMode:
    """A silent ``FlopCounterMode`` that counts CPU attention too (multiply-add = 2 FLOPs)."""
    return FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS)


def count_flops(fn: Callable[[], Any]) -> int:
    """Total FLOPs of calling ``fn()`` (forward and, if ``fn`` calls it, backward)."""
    with flop_counter() as counter:
        fn()
    return counter.get_total_flops()
