"""Swin building blocks checked against naive, loop-based references written from the definitions."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from anotrans.errors import ConfigError
from anotrans.networks import fast_attention
from anotrans.networks.swin import (
    AttentionBlock,
    GlobalAttentionBlock,
    PatchEmbed,
    PatchExpand,
    PatchMerging,
    SwinBlock,
    tokens_to_image,
    unpatchify,
    window_partition,
    window_reverse,
)


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """[B, C, H, W] -> [B, (H/p)(W/p), p*p*C], features ordered (row offset, column offset, channel)."""
    b, c, h, w = x.shape
    tokens = torch.empty(b, (h // p) * (w // p), p * p * c)
    for i in range(h // p):
        for j in range(w // p):
            patch = x[:, :, i * p : (i + 1) * p, j * p : (j + 1) * p]  # [B, C, p, p]
            tokens[:, i * (w // p) + j] = patch.permute(0, 2, 3, 1).reshape(b, -1)
    return tokens


def naive_swin_attention(block: SwinBlock, x: torch.Tensor) -> torch.Tensor:
    """The block's attention branch on normalised tokens, one window and one head at a time.

    Mask rule derived independently of the implementation: after rolling by -s, two tokens of a window may
    attend only if neither axis wraps between them, i.e. they sit on the same side of the wrap line.
    """
    b, length, c = x.shape
    r, w, s = block.resolution, block.window_size, block.shift_size
    attn = block.attn
    heads, d = attn.num_heads, c // attn.num_heads

    def wrapped(i: int, j: int) -> tuple[bool, bool]:
        """Which axes of rolled cell (i, j) came around from the far edge of the image."""
        return (s > 0 and i >= r - s, s > 0 and j >= r - s)

    grid = torch.roll(x.view(b, r, r, c), shifts=(-s, -s), dims=(1, 2)) if s else x.view(b, r, r, c)
    out = torch.zeros_like(grid)
    for bi in range(b):
        for wi in range(0, r, w):
            for wj in range(0, r, w):
                cells = [(wi + a, wj + e) for a in range(w) for e in range(w)]
                tok = torch.stack([grid[bi, i, j] for i, j in cells])  # [N, C]
                q, k, v = (tok @ attn.qkv.weight.T + attn.qkv.bias).split(c, dim=-1)
                # Bias index from the coordinate difference; blocked pairs get -inf (an exact exclusion).
                index = [
                    [(i1 - i2 + w - 1) * (2 * w - 1) + (j1 - j2 + w - 1) for i2, j2 in cells]
                    for i1, j1 in cells
                ]
                blocked = [[wrapped(*key) != wrapped(*query) for key in cells] for query in cells]
                heads_out = []
                for h in range(heads):
                    qh, kh, vh = (t[:, h * d : (h + 1) * d] for t in (q, k, v))
                    logits = qh @ kh.T / d**0.5 + attn.relative_position_bias_table[:, h][torch.tensor(index)]
                    logits = logits.masked_fill(torch.tensor(blocked), float("-inf"))
                    heads_out.append(torch.softmax(logits, dim=-1) @ vh)
                merged = torch.cat(heads_out, dim=-1) @ attn.proj.weight.T + attn.proj.bias
                for n, (i, j) in enumerate(cells):
                    out[bi, i, j] = merged[n]
    if s:
        out = torch.roll(out, shifts=(s, s), dims=(1, 2))
    return out.reshape(b, length, c)


def naive_swin_block(block: SwinBlock, x: torch.Tensor) -> torch.Tensor:
    x = x + naive_swin_attention(block, F.layer_norm(x, x.shape[-1:], block.norm1.weight, block.norm1.bias))
    return x + block.mlp(F.layer_norm(x, x.shape[-1:], block.norm2.weight, block.norm2.bias))


def _randomise(module: nn.Module) -> None:
    """Large random weights so bias, mask and norm mistakes cannot hide behind a near-zero init."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0.0, 0.5)


@pytest.mark.parametrize(
    ("resolution", "window", "shift"),
    [(8, 4, 2), (4, 2, 1), (6, 2, 1), (8, 4, 0), (4, 4, 2), (2, 4, 1)],
    ids=["8px-w4-s2", "4px-w2-s1", "6px-w2-s1", "8px-w4-noshift", "window=res", "window>res"],
)
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
def test_swin_block_matches_naive_per_window_reference(
    monkeypatch: pytest.MonkeyPatch, resolution: int, window: int, shift: int, fast: bool
) -> None:
    monkeypatch.setattr(fast_attention, "ENABLED", fast)
    torch.manual_seed(0)
    block = SwinBlock(dim=8, resolution=resolution, num_heads=2, window_size=window, shift_size=shift)
    _randomise(block)
    x = torch.randn(2, resolution * resolution, 8)
    with torch.no_grad():
        torch.testing.assert_close(block(x), naive_swin_block(block, x), atol=1e-5, rtol=1e-5)


def test_shift_mask_changes_the_result() -> None:
    """Guards the reference itself: the masked pairs must matter for this input."""
    block = SwinBlock(dim=8, resolution=4, num_heads=2, window_size=2, shift_size=1)
    _randomise(block)
    x = torch.randn(1, 16, 8)
    with torch.no_grad():
        masked = block(x)
        block.attn_mask.zero_()
        assert not torch.allclose(block(x), masked, atol=1e-3)


def test_window_shrinks_to_small_maps() -> None:
    block = SwinBlock(dim=8, resolution=2, num_heads=2, window_size=4, shift_size=2)
    assert (block.window_size, block.shift_size, block.attn_mask) == (2, 0, None)
    assert block.attn.relative_position_bias_table.shape == (9, 2)


def test_window_that_does_not_divide_the_grid_is_rejected() -> None:
    with pytest.raises(ConfigError, match="window_size=3"):
        SwinBlock(dim=8, resolution=8, num_heads=2, window_size=3)


def test_index_and_mask_are_built_once_and_not_saved() -> None:
    block = SwinBlock(dim=8, resolution=4, num_heads=2, window_size=2, shift_size=1)
    mask, index = block.attn_mask, block.attn.relative_position_index
    ptr = mask.data_ptr()
    x = torch.randn(2, 16, 8)
    block(x)
    block(x)
    assert block.attn_mask is mask and block.attn.relative_position_index is index
    assert block.attn_mask.data_ptr() == ptr
    assert set(block.state_dict()) == {n for n, _ in block.named_parameters()}


def test_state_dict_names_and_shapes_are_those_checkpoints_hold() -> None:
    """Renaming or reshaping a parameter would stop saved checkpoints from loading."""
    attention = {
        "attn.qkv.weight": (24, 8),
        "attn.qkv.bias": (24,),
        "attn.proj.weight": (8, 8),
        "attn.proj.bias": (8,),
    }
    block = {
        "norm1.weight": (8,),
        "norm1.bias": (8,),
        **attention,
        "norm2.weight": (8,),
        "norm2.bias": (8,),
        "mlp.0.weight": (32, 8),
        "mlp.0.bias": (32,),
        "mlp.2.weight": (8, 32),
        "mlp.2.bias": (8,),
    }
    expected = {
        SwinBlock(8, 4, 2, 2, 1): {**block, "attn.relative_position_bias_table": (9, 2)},
        GlobalAttentionBlock(8, 2): block,
        PatchEmbed(8, 2, 3, 8): {
            "pos_embed": (1, 16, 8),
            "proj.weight": (8, 3, 2, 2),
            "proj.bias": (8,),
            "norm.weight": (8,),
            "norm.bias": (8,),
        },
        PatchMerging(8, 4): {"norm.weight": (32,), "norm.bias": (32,), "reduction.weight": (16, 32)},
        PatchExpand(8, 4): {"expand.weight": (16, 8), "norm.weight": (4,), "norm.bias": (4,)},
    }
    for module, names in expected.items():
        assert {k: tuple(v.shape) for k, v in module.state_dict().items()} == names, type(module).__name__


def test_window_partition_round_trip_and_layout() -> None:
    x = torch.randn(2, 8, 12, 5)
    windows = window_partition(x, 4)
    assert windows.shape == (2 * 2 * 3, 16, 5)
    torch.testing.assert_close(windows[7], x[1, 0:4, 4:8].reshape(16, 5))  # image 1, window (0, 1)
    torch.testing.assert_close(window_reverse(windows, 4, 8, 12), x)


@pytest.mark.parametrize("p", [1, 2, 4])
def test_unpatchify_inverts_a_patch_split(p: int) -> None:
    x = torch.randn(2, 3, 8, 16)
    tokens = patchify(x, p)
    pixels = unpatchify(tokens, 8 // p, 16 // p, p)  # [B, H*W, C]
    torch.testing.assert_close(tokens_to_image(pixels, 8, 16), x)


@pytest.mark.parametrize("p", [2, 4])
def test_patch_embed_conv_sees_the_same_split(p: int) -> None:
    """A one-hot patch conv reproduces patchify, so PatchEmbed and the head agree on the pixel layout."""
    c = 3
    embed = PatchEmbed(image_size=8, patch_size=p, in_channels=c, embed_dim=p * p * c)
    with torch.no_grad():
        embed.proj.weight.zero_()
        embed.proj.bias.zero_()
        for i in range(p):
            for j in range(p):
                for ch in range(c):
                    embed.proj.weight[(i * p + j) * c + ch, ch, i, j] = 1.0
    x = torch.randn(2, c, 8, 8)
    conv_tokens = embed.proj(x).flatten(2).transpose(1, 2)
    torch.testing.assert_close(conv_tokens, patchify(x, p))


def test_patch_merging_concatenates_swin_neighbour_order() -> None:
    merge = PatchMerging(dim=3, resolution=4)
    merge.norm, merge.reduction = nn.Identity(), nn.Identity()
    grid = torch.randn(2, 4, 4, 3)
    out = merge(grid.reshape(2, 16, 3)).view(2, 2, 2, 12)
    parts = [grid[:, 0::2, 0::2], grid[:, 1::2, 0::2], grid[:, 0::2, 1::2], grid[:, 1::2, 1::2]]
    torch.testing.assert_close(out, torch.cat(parts, dim=-1))


def test_patch_merge_and_expand_shapes() -> None:
    x = torch.randn(2, 64, 16)
    assert PatchMerging(16, 8)(x).shape == (2, 16, 32)
    assert PatchExpand(16, 8)(x).shape == (2, 256, 8)
    assert PatchExpand(16, 8, scale=4, out_dim=8)(x).shape == (2, 1024, 8)


def test_global_block_has_two_layer_norms_and_mixes_all_tokens() -> None:
    torch.manual_seed(0)
    block = GlobalAttentionBlock(dim=8, num_heads=2)
    assert block.norm1 is not block.norm2
    x = torch.randn(1, 16, 8, requires_grad=True)
    block(x)[0, 0].sum().backward()
    assert x.grad[0, 15].abs().sum() > 0  # token 0 sees token 15, far outside any 2x2 window


def test_attention_block_alternates_w_msa_and_sw_msa() -> None:
    unit = AttentionBlock(dim=8, resolution=8, depth=4, num_heads=2, window_size=2, shift_size=1)
    assert [b.shift_size for b in unit.blocks] == [0, 1, 0, 1]
    with pytest.raises(ConfigError, match="attention"):
        AttentionBlock(dim=8, resolution=8, attention="local")


def test_window_attention_under_autocast() -> None:
    block = SwinBlock(dim=8, resolution=4, num_heads=2, window_size=2, shift_size=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert block(torch.randn(1, 16, 8)).shape == (1, 16, 8)
