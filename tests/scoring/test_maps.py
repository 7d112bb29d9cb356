"""The one anomaly-map definition: its value, its upsampling, its pixel threshold, and ONNX tracing."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from anotrans.errors import ConfigError
from anotrans.networks import build_model
from anotrans.scoring import maps as maps_module
from anotrans.scoring.maps import (
    MAP_KINDS,
    available_maps,
    feature_residual,
    gaussian_blur,
    pixel_threshold,
    smooth,
    ssim_residual,
    upsample,
)
from anotrans.scoring.metrics import PixelSample
from anotrans.scoring.predictions import anomalous_area
from anotrans.scoring.scores import ScoreConfig, Scorer, compute_components, eval_mode
from anotrans.scoring.visualize import heat_rgb, overlay


def test_residual_map_is_the_smoothed_channel_mean_of_the_absolute_residual():
    x = torch.zeros(1, 3, 16, 16)
    recon = torch.zeros(1, 3, 16, 16)
    recon[0, 0, 8, 8] = 3.0  # one channel off by 3 at one pixel: channel mean 1
    raw = smooth(MAP_KINDS["residual"](torch.nn.Identity(), x, recon), sigma=0.0)
    assert raw.shape == (1, 16, 16) and raw[0, 8, 8] == 1.0 and raw.sum() == 1.0
    blurred = smooth(MAP_KINDS["residual"](torch.nn.Identity(), x, recon), sigma=1.0)
    assert blurred.sum().item() == pytest.approx(1.0, abs=1e-5)  # blurring keeps the mass (interior)
    assert blurred[0, 8, 8] == blurred.max() < 1.0
    assert list(MAP_KINDS) == ["residual", "ssim", "feature"]


@pytest.mark.parametrize("kind", ["residual", "ssim", "feature"])
def test_the_configured_kind_is_the_map_and_its_maximum_sets_the_colour_scale(kind):
    torch.manual_seed(0)
    model = build_model("skip-ganomaly", image_size=16, ngf=8, disc_ndf=8, disc_nz=16)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with eval_mode(model):
        comp = compute_components(model, x, 1.0, map_kind=kind)
        recon = model.generator(x)
        expected = {
            "residual": (x - recon).abs().mean(dim=1),
            "ssim": ssim_residual(x, recon),
            "feature": feature_residual(model.discriminator, x, recon),
        }[kind]
    torch.testing.assert_close(comp.maps, smooth(expected, 1.0))
    torch.testing.assert_close(comp.map_max, comp.maps.flatten(1).amax(dim=1))
    torch.testing.assert_close(
        comp.residual_max,
        smooth(expected if kind == "residual" else (x - recon).abs().mean(dim=1), 1.0).flatten(1).amax(dim=1),
    )


def test_a_model_without_a_dcgan_discriminator_has_no_feature_map(monkeypatch):
    model = build_model("skip-ganomaly", image_size=16, ngf=8, disc_ndf=8, disc_nz=16)
    assert available_maps(model) == ["residual", "ssim", "feature"]
    monkeypatch.setattr(maps_module, "feature_extractor", lambda discriminator: None)  # D without stages
    assert available_maps(model) == ["residual", "ssim"]
    with eval_mode(model), pytest.raises(ConfigError, match="--anomaly-map feature needs"):
        compute_components(model, torch.zeros(1, 3, 16, 16), 1.0, map_kind="feature")
    with pytest.raises(ConfigError, match="--anomaly-map must be one of residual, ssim, feature, auto"):
        ScoreConfig(anomaly_map="gradient")


def test_upsample_to_the_input_size():
    maps = torch.arange(16.0).view(1, 4, 4)
    big = upsample(maps, (8, 12))
    assert big.shape == (1, 8, 12)
    assert maps.min() <= big.min() and big.max() <= maps.max()  # bilinear: no overshoot
    assert torch.equal(upsample(maps, (4, 4)), maps)
    assert torch.allclose(upsample(torch.full((1, 3, 3), 2.5), (7, 5)), torch.full((1, 7, 5), 2.5))


def test_pixel_threshold_is_the_validation_quantile_and_saved_with_the_scorer():
    sample = PixelSample()
    sample.add(np.arange(1000, dtype=np.float32).reshape(10, 10, 10))
    assert pixel_threshold(sample, 0.99) == pytest.approx(np.quantile(np.arange(1000), 0.99))
    components = {n: np.linspace(0, 1, 10) for n in ("recon", "latent", "disc", "residual_max", "map_max")}
    scorer = Scorer(ScoreConfig(pixel_quantile=0.9)).fit(components, sample)
    restored = Scorer.from_dict(scorer.to_dict())
    assert restored.pixel_threshold == pytest.approx(np.quantile(np.arange(1000), 0.9))
    assert Scorer(ScoreConfig()).fit(components).pixel_threshold is None
    assert anomalous_area(np.array([[[0.0, 1.0], [2.0, 3.0]]]), 1.5).tolist() == [0.5]


def test_one_colour_scale_for_every_image():
    low, high = heat_rgb(np.array([[0.0]]), 2.0), heat_rgb(np.array([[5.0]]), 2.0)
    assert not np.array_equal(low, high)
    assert np.array_equal(heat_rgb(np.array([[2.0]]), 2.0), high)  # clipped at the run's vmax
    grey = overlay(np.full((2, 2, 1), 100, np.uint8), np.zeros((2, 2)), 1.0)
    assert grey.shape == (2, 2, 3)


class _MapGraph(torch.nn.Module):
    def forward(self, x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        return upsample(smooth(MAP_KINDS["residual"](self, x, recon), 1.5), (24, 40))


def test_the_map_is_traceable_by_onnx():
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    torch.manual_seed(0)
    x, recon = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    buf = io.BytesIO()
    torch.onnx.export(_MapGraph(), (x, recon), buf, input_names=["x", "recon"], dynamo=False)
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x": x.numpy(), "recon": recon.numpy()})
    np.testing.assert_allclose(out, _MapGraph()(x, recon).numpy(), atol=1e-5)
    assert gaussian_blur(torch.ones(1, 1, 5, 5), 0.0).shape == (1, 1, 5, 5)
