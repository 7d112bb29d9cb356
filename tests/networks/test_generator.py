"""The AnoTrans generator: registered variants, switches, config validation and trainability."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from anotrans.errors import ConfigError
from anotrans.networks import build_model, build_model_from_config, list_models, make_config
from anotrans.networks.generator import AnoTransConfig, AnoTransGenerator
from anotrans.networks.skips import CBAMSkip, SkipAttentionConnection
from anotrans.networks.swin import GlobalAttentionBlock, SwinBlock

NAMES = ["anotrans", "anotrans-cbam", "anotrans-plain", "anotrans-vit"]


def generator(name: str = "anotrans", image_size: int = 32, channels: int = 3, **overrides) -> nn.Module:
    torch.manual_seed(0)
    return build_model(name, image_size, channels, **overrides).generator


def test_names_are_registered_with_their_switches() -> None:
    assert set(NAMES) <= set(list_models())
    assert make_config("anotrans") == AnoTransConfig()
    assert make_config("anotrans-cbam").skip == "cbam"
    assert make_config("anotrans-plain").skip == "plain"
    assert make_config("anotrans-vit").attention == "global"


def test_default_is_the_paper_model() -> None:
    """Patch 2, widths 64/128/256 + 512 bottleneck, 18 Swin blocks, ~12.5 M parameters (ref. notes 2.3)."""
    model = build_model("anotrans")
    g = model.generator
    assert [m.reduction.out_features for m in g.modules() if hasattr(m, "reduction")] == [128, 256, 512]
    assert sum(isinstance(m, SwinBlock) for m in g.modules()) == 18
    assert 12.4e6 < sum(p.numel() for p in g.parameters()) < 12.6e6
    assert [type(s) for s in g.skips] == [SkipAttentionConnection, SkipAttentionConnection, nn.Identity]
    deepest = [m for m in g.modules() if isinstance(m, SwinBlock) and m.resolution == 2]
    assert deepest and all((m.window_size, m.shift_size) == (2, 0) for m in deepest)  # whole-map window
    logits, features = model.discriminator(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2,) and features.shape == (2, 100)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels", [1, 3])
def test_reconstruction_has_the_input_shape(name: str, channels: int) -> None:
    g = generator(name, 32, channels)
    x = torch.randn(2, channels, 32, 32)
    with torch.no_grad():
        y = g(x)
    assert y.shape == x.shape and torch.isfinite(y).all() and y.abs().max() < 1


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [64, 96, 128, 256])
def test_larger_image_shapes(name: str, channels: int, size: int) -> None:
    """Every module's forward runs on shape-only meta tensors, so large sizes cost no arithmetic."""
    with torch.device("meta"):
        g = build_model(name, size, channels).generator
        assert g(torch.empty(1, channels, size, size)).shape == (1, channels, size, size)


def test_wrong_input_shape_is_named() -> None:
    with pytest.raises(ValueError, match=r"expects \[B, 3, 32, 32\]"):
        generator()(torch.randn(1, 3, 64, 64))


@pytest.mark.parametrize("name", NAMES)
def test_gradient_reaches_every_parameter(name: str) -> None:
    g = generator(name)
    g(torch.randn(2, 3, 32, 32)).square().mean().backward()
    missing = [n for n, p in g.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_input_batchnorm_is_applied() -> None:
    g = generator()
    assert isinstance(g.input_norm, nn.BatchNorm2d)
    before = g.input_norm.running_mean.clone()
    g.train()
    with torch.no_grad():
        g(torch.randn(2, 3, 32, 32) + 3.0)
    assert not torch.allclose(g.input_norm.running_mean, before)
    assert int(g.input_norm.num_batches_tracked) == 1


def test_input_norm_off_reproduces_the_released_code() -> None:
    g = generator(input_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in g.modules())
    assert not any(k.startswith("input_norm") for k in g.state_dict())


def _keys(g: nn.Module) -> set[str]:
    return set(g.state_dict())


@pytest.mark.parametrize(
    ("option", "value", "marker"),
    [
        ("skip", "cbam", CBAMSkip),
        ("skip", "plain", None),
        ("attention", "global", GlobalAttentionBlock),
        ("skip_levels", (0, 1, 2), None),
        ("skip_levels", (1,), None),
        ("input_norm", False, None),
        ("skip_depth", 4, None),
    ],
)
def test_each_switch_changes_the_network(option: str, value, marker: type | None) -> None:
    base, changed = generator(), generator(**{option: value})
    assert _keys(base) != _keys(changed)
    if marker is not None:
        assert any(isinstance(m, marker) for m in changed.modules())
        assert not any(isinstance(m, marker) for m in base.modules())


def test_output_activation_is_the_only_difference_between_tanh_and_none() -> None:
    x = torch.randn(2, 3, 32, 32)
    bounded, raw = generator(), generator(output_activation="none")
    bounded.load_state_dict(raw.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(bounded(x), torch.tanh(raw(x)))


def test_cbam_uses_the_same_skip_levels_as_sac() -> None:
    g = generator("anotrans-cbam")
    assert [type(s) for s in g.skips] == [CBAMSkip, CBAMSkip, nn.Identity]


def test_global_attention_keeps_window_attention_in_sac() -> None:
    g = generator("anotrans-vit")
    assert all(not isinstance(m, SwinBlock) for m in g.encoder.modules())
    assert any(isinstance(m, SwinBlock) for m in g.skips.modules())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"image_size": 36}, r"18x18 token grid .* halved num_merges=3 times; .*: 16, 32, 64, 96"),
        ({"image_size": 33}, "not a multiple of patch_size=2"),
        ({"window_size": 3, "shift_size": 1}, r"window_size=3 does not divide the 16x16 grid"),
        ({"image_size": 96, "window_size": 8, "shift_size": 4}, r"window_size=8 does not divide the 12x12"),
        ({"shift_size": 2}, r"shift_size must be in \[0, window_size=2\)"),
        ({"embed_dim": 66}, "divisible by num_heads=4"),
        ({"depths": (2, 2, 2)}, "depths needs num_merges \\+ 1 = 4"),
        ({"num_merges": 2}, "depths needs"),
        ({"skip_levels": (3,)}, r"skip_levels must be distinct levels in 0..2"),
        ({"skip": "fca"}, "skip must be one of sac, cbam, plain"),
        ({"attention": "local"}, "attention must be one of window, global"),
        ({"output_activation": "sigmoid"}, "output_activation must be one of tanh, none"),
        ({"patch_size": 0}, "patch_size must be >= 1"),
    ],
)
def test_bad_configs_raise_config_error(overrides: dict, message: str) -> None:
    values = {"image_size": 32, **overrides}
    with pytest.raises(ConfigError, match=message):
        make_config("anotrans", **values)


def test_unknown_option_is_rejected() -> None:
    with pytest.raises(ConfigError, match="no option"):
        build_model("anotrans", window=4)


def test_window_larger_than_a_level_shrinks_to_it() -> None:
    """Window 8 is fine at 32 px: the 8x8, 4x4 and 2x2 levels become single windows without shift."""
    cfg = make_config("anotrans", 32, window_size=8, shift_size=4)
    g = AnoTransGenerator(cfg)
    windows = {(m.resolution, m.window_size, m.shift_size) for m in g.modules() if isinstance(m, SwinBlock)}
    assert windows == {(16, 8, 0), (16, 8, 4), (8, 8, 0), (4, 4, 0), (2, 2, 0)}


def test_global_attention_does_not_need_windows_to_fit() -> None:
    cfg = make_config("anotrans", 32, attention="global", skip="plain", window_size=3, shift_size=1)
    assert cfg.windowed_levels() == []


def test_masks_are_not_rebuilt_per_call() -> None:
    g = generator()
    shifted = [m for m in g.modules() if isinstance(m, SwinBlock) and m.shift_size]
    before = [(m.attn_mask, m.attn_mask.data_ptr(), m.attn.relative_position_index) for m in shifted]
    assert len(shifted) == 8  # SW-MSA in encoder, decoder (16, 8, 4 px grids) and SAC (16, 8); not at 2x2
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        g(x)
        g(x)
    after = [(m.attn_mask, m.attn_mask.data_ptr(), m.attn.relative_position_index) for m in shifted]
    assert all(a[0] is b[0] and a[1] == b[1] and a[2] is b[2] for a, b in zip(before, after, strict=True))
    assert not any("attn_mask" in k or "relative_position_index" in k for k in g.state_dict())


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trips_through_json(name: str) -> None:
    model = build_model(name, 64, 1, skip_levels=[0], depths=[2, 2, 4, 2])
    data = json.loads(json.dumps(model.config_dict()))
    assert AnoTransConfig.from_dict(json.loads(model.config.to_json())) == model.config
    rebuilt = build_model_from_config(data)
    assert rebuilt.config == model.config
    for net in ("generator", "discriminator"):
        a, b = getattr(model, net).state_dict(), getattr(rebuilt, net).state_dict()
        assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}
    rebuilt.load_state_dict(model.state_dict())


# Overfitting 8 uniform-noise images (mean |x| = 0.5, so a constant output scores ~0.5) at width 32: after
# 40 Adam steps (lr 3e-3) the four variants measured L1 0.093-0.107; the same networks with their skips zeroed
# or spatially flipped measured 0.25-0.28. Width 32 instead of 64 keeps the four runs ~20 s on a shared CPU.
OVERFIT_STEPS = 40
OVERFIT_L1 = 0.16


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_overfits_one_batch(name: str) -> None:
    torch.manual_seed(0)
    x = torch.rand(8, 3, 32, 32) * 2 - 1
    g = generator(name, embed_dim=32)
    opt = torch.optim.Adam(g.parameters(), lr=3e-3)
    for _ in range(OVERFIT_STEPS):
        loss = (g(x) - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < OVERFIT_L1
