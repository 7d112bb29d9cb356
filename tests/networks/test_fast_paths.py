"""The optimised network paths against the plain path: same outputs (fp32) and close ones (bf16).

The plain path is ``swin.py`` with ``fast_attention.ENABLED = False``: Swin's textbook formulation (roll,
``window_partition``, explicit softmax attention with the relative bias and the shift mask,
``window_reverse``, roll back), itself checked against a per-window loop in test_swin.py. The fast path
gathers tokens with one precomputed index and runs :func:`explicit_attention` (baddbmm with the mask, fp32
heads zero-padded past torch's small-bmm loop) on short CPU windows and SDPA otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from anotrans.api import parse_key_values
from anotrans.networks import build_model, build_model_from_config, fast_attention
from anotrans.networks.fast_attention import _padded_head_dim, explicit_attention
from anotrans.networks.swin import GlobalAttentionBlock, SwinBlock, TransformerBlock


def run_both(
    monkeypatch: pytest.MonkeyPatch, block: TransformerBlock, x: Tensor, grad: bool = True
) -> list[tuple[Tensor, list[Tensor]]]:
    """The block's attention branch (output, and grads of x and the attention weights) fast, then plain."""
    params = [x, *block.attn.parameters()]
    runs = []
    for enabled in (True, False):
        monkeypatch.setattr(fast_attention, "ENABLED", enabled)
        torch.manual_seed(1)
        with torch.set_grad_enabled(grad):
            out = block.attend(x)
        cotangent = torch.randn_like(out)
        runs.append((out, list(torch.autograd.grad(out, params, cotangent)) if grad else []))
    return runs


def _randomise(block: nn.Module) -> None:
    """Bias table and weights large enough that the bias and the mask visibly change the result."""
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0, 0.5)


def assert_same(runs: list[tuple[Tensor, list[Tensor]]]) -> None:
    (fast, fast_grads), (plain, plain_grads) = runs
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)
    for got, want in zip(fast_grads, plain_grads, strict=True):
        # Gradients are sums over every token, so summation order shows up at 1e-5 of their scale.
        assert (got - want).abs().max() <= 1e-5 * want.abs().max()


@pytest.mark.parametrize(
    ("resolution", "window", "shift"),
    [(8, 2, 1), (8, 2, 0), (8, 4, 2), (6, 2, 1), (2, 2, 0), (10, 5, 2)],
    ids=["w2-shift", "w2-noshift", "w4-shift", "6px-w2-shift", "single-window", "w5-shift-sdpa"],
)
@pytest.mark.parametrize("dim", [16, 32], ids=["d8", "d16-padded"])
def test_swin_attention_matches_plain_path_forward_and_backward(
    monkeypatch: pytest.MonkeyPatch, resolution: int, window: int, shift: int, dim: int
) -> None:
    """Gather + explicit kernel (windows of <= 16 tokens) or gather + SDPA with the mask (25 tokens)."""
    torch.manual_seed(0)
    block = SwinBlock(dim=dim, resolution=resolution, num_heads=2, window_size=window, shift_size=shift)
    _randomise(block)
    assert_same(
        run_both(monkeypatch, block, torch.randn(3, resolution * resolution, dim, requires_grad=True))
    )


def test_global_attention_matches_plain_path_forward_and_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sequences past EXPLICIT_MAX_TOKENS take SDPA without a mask (the ViT blocks)."""
    torch.manual_seed(0)
    block = GlobalAttentionBlock(dim=16, num_heads=2)
    _randomise(block)
    assert_same(run_both(monkeypatch, block, torch.randn(3, 64, 16, requires_grad=True)))


@pytest.mark.parametrize(
    ("resolution", "window", "shift"),
    [(8, 2, 1), (8, 2, 0), (8, 4, 2)],
    ids=["w2-shift", "w2-noshift", "w4-shift"],
)
def test_swin_attention_without_gradients_matches_plain_path(
    monkeypatch: pytest.MonkeyPatch, resolution: int, window: int, shift: int
) -> None:
    """Without autograd (inference) the fast path gives the plain path's outputs too."""
    torch.manual_seed(0)
    block = SwinBlock(dim=16, resolution=resolution, num_heads=2, window_size=window, shift_size=shift)
    _randomise(block)
    assert_same(run_both(monkeypatch, block, torch.randn(3, resolution * resolution, 16), grad=False))


def test_gather_order_first_built_in_inference_mode_still_trains(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cached gather index outlives the inference-mode call that built it (index_select saves it)."""
    monkeypatch.setattr(fast_attention, "_ORDERS", {})
    block = SwinBlock(dim=8, resolution=4, num_heads=2, window_size=2, shift_size=1)
    x = torch.randn(2, 16, 8, requires_grad=True)
    with torch.inference_mode():
        block(x.detach())
    block(x).sum().backward()
    assert x.grad is not None and len(fast_attention._ORDERS) == 1


@pytest.mark.parametrize("head_dim", [8, 16], ids=["d8", "d16-padded"])
@pytest.mark.parametrize(
    "mask_shape", [(10, 2, 4, 4), (1, 2, 4, 4), None], ids=["per-window", "shared", "none"]
)
def test_explicit_attention_matches_sdpa_forward_and_backward(
    mask_shape: tuple[int, ...] | None, head_dim: int
) -> None:
    """The explicit path (baddbmm with the mask, or bmm without) against SDPA's math, strided inputs too.

    Head width 16 on 4 tokens is the paper model's level 0, where fp32 heads are zero-padded to 25.
    """
    assert _padded_head_dim(torch.float32, 4, head_dim) == (25 if head_dim == 16 else head_dim)
    torch.manual_seed(0)
    # q, k, v as MultiHeadSelfAttention makes them: strided [B, heads, N, d] views of one qkv tensor.
    qkv = torch.randn(10, 4, 3, 2, head_dim, requires_grad=True)
    q, k, v = (t.transpose(1, 2) for t in qkv.unbind(2))
    mask = None if mask_shape is None else torch.randn(mask_shape, requires_grad=True)
    got = explicit_attention(q, k, v, mask)
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    cotangent = torch.randn_like(got)
    inputs = [qkv] if mask is None else [qkv, mask]
    for g, w in zip(
        torch.autograd.grad(got, inputs, cotangent), torch.autograd.grad(want, inputs, cotangent), strict=True
    ):
        torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-5)


def test_bf16_autocast_stays_close_to_fp32() -> None:
    """bf16 keeps ~3 significant digits: a random-init AnoTrans at 32 px moves its tanh output by < 0.05."""
    torch.manual_seed(0)
    model = build_model("anotrans", image_size=32, embed_dim=32, num_merges=2, depths=(2, 2, 2)).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        fp32 = model.generator(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model.generator(x)
            _, feats_bf16 = model.discriminator(x)
        _, feats = model.discriminator(x)
    assert bf16.dtype == torch.bfloat16  # autocast really ran the matmuls in bf16
    assert (bf16.float() - fp32).abs().max() < 0.05
    assert (feats_bf16.float() - feats).abs().max() < 0.05 * feats.abs().max()


def _run_saving(fn: Callable[[], Tensor]) -> tuple[Tensor, int]:
    """``fn()`` and the bytes of the distinct storages autograd keeps for its backward."""
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(storages.values())


def _small_generator(checkpoint_blocks: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("anotrans", image_size=32, embed_dim=16, checkpoint_blocks=checkpoint_blocks).generator


def test_checkpointed_blocks_give_the_same_outputs_and_gradients_and_save_less() -> None:
    """``checkpoint_blocks`` only trades memory for recomputation: same forward, same backward."""
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    runs = []
    for checkpoint_blocks in (False, True):
        g = _small_generator(checkpoint_blocks)
        y, saved = _run_saving(lambda g=g: g(x))
        y.square().mean().backward()
        runs.append((y, [p.grad for p in g.parameters()], saved))
    (y_plain, grads_plain, saved_plain), (y_ck, grads_ck, saved_ck) = runs
    torch.testing.assert_close(y_ck, y_plain, atol=0, rtol=0)
    for got, want in zip(grads_ck, grads_plain, strict=True):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    assert saved_ck < saved_plain / 3  # the paper model at 64 px: 574 vs 3115 MiB


def test_checkpointing_only_engages_in_training_with_autograd() -> None:
    """In eval mode the blocks run plainly, so inference pays no checkpointing overhead."""
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    plain, checkpointed = _small_generator(False).eval(), _small_generator(True).eval()
    assert _run_saving(lambda: checkpointed(x))[1] == _run_saving(lambda: plain(x))[1] > 0
    with torch.no_grad():
        torch.testing.assert_close(checkpointed.train()(x), plain.train()(x), atol=0, rtol=0)


def test_checkpoint_blocks_is_a_model_option_that_round_trips() -> None:
    """Settable as ``--model-option checkpoint-blocks=true`` and kept in the saved model config."""
    options = parse_key_values(["checkpoint-blocks=true"], "--model-option")
    model = build_model_from_config(json.loads(json.dumps(build_model("anotrans", **options).config_dict())))
    assert model.config.checkpoint_blocks is True
    default = build_model("anotrans").generator
    for generator, expected in ((model.generator, True), (default, False)):
        blocks = [m for m in generator.modules() if isinstance(m, TransformerBlock)]
        assert len(blocks) == 18 and all(block.checkpoint is expected for block in blocks)
