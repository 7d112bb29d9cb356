"""Anomaly scores (paper sec. 2.6 and alternatives), their validation-fitted normalisation and threshold.

Every score is computed from one pass of the networks in eval mode, so an image's score never depends on
the other images of its batch (the reference code scored with BatchNorm in train mode; see docs/usage.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from anotrans.errors import ConfigError
from anotrans.networks.calling import discriminate, generate, has_latent_encoder
from anotrans.scoring.maps import MapCollector, anomaly_map, pixel_threshold
from anotrans.scoring.metrics import PixelSample
from anotrans.scoring.predictions import normalise_scores
from anotrans.utils.sections import Section

SCORE_FORMULAS: dict[str, str] = {
    "paper": "Eq. 9: lambda*R + (1-lambda)*L; R = pixel MSE of x vs G(x), L = MSE of D's features",
    "latent-neg": "-L: the negated discriminator-feature distance",
    "disc": "-D(x): the discriminator's real/fake logit of the input, negated (higher = less real)",
    "residual-max": "max over pixels of the Gaussian-smoothed residual |x - G(x)| averaged over channels",
    "encoder": "GANomaly's ||z - z_hat||^2 (mean over the latent); only for models with a second encoder",
}
SCORE_NORMS = ("raw", "zscore")
COMPONENT_NAMES = ("recon", "latent", "disc", "residual_max", "encoder")
DEFAULT_SCORE = "disc"


@dataclasses.dataclass
class ScoreConfig(Section):
    """Which score, how it is mixed, and how the deployment threshold is taken from validation normals.

    ``score_lambda`` is lambda of Eq. 9 (the weight on R): 0.1 in the paper, 0.9 in the released code.
    ``score_norm`` "zscore" standardises R and L by their validation-normal mean/std before mixing.
    ``threshold_quantile``: the threshold is this quantile of the validation normals' raw scores.
    ``pixel_quantile``: the pixel threshold (segmentation) is this quantile of their map pixels.
    """

    SECTION: ClassVar[str] = "score"

    score: str = DEFAULT_SCORE
    score_norm: str = "raw"
    score_lambda: float = 0.1
    smoothing_sigma: float = 1.0
    threshold_quantile: float = 0.95
    pixel_quantile: float = 0.99

    def __post_init__(self) -> None:
        if self.score not in SCORE_FORMULAS:
            raise ConfigError(f"--score must be one of {', '.join(SCORE_FORMULAS)}, got {self.score!r}")
        if self.score_norm not in SCORE_NORMS:
            raise ConfigError(
                f"--score-norm must be one of {', '.join(SCORE_NORMS)}, got {self.score_norm!r}"
            )
        if not 0.0 <= self.score_lambda <= 1.0:
            raise ConfigError(f"--lambda must be in [0, 1], got {self.score_lambda}")
        if self.smoothing_sigma < 0:
            raise ConfigError(f"--smoothing-sigma must be >= 0, got {self.smoothing_sigma}")
        if not 0.0 < self.threshold_quantile <= 1.0:
            raise ConfigError(f"--threshold-quantile must be in (0, 1], got {self.threshold_quantile}")
        if not 0.0 < self.pixel_quantile <= 1.0:
            raise ConfigError(f"--pixel-quantile must be in (0, 1], got {self.pixel_quantile}")


def available_scores(model: nn.Module) -> list[str]:
    """The formulas this model supports (``encoder`` needs a second encoder)."""
    has_encoder = has_latent_encoder(model.generator)
    return [s for s in SCORE_FORMULAS if s != "encoder" or has_encoder]


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd for scoring; restores the previous mode (training calls this mid-run)."""
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        module.train(was_training)


@dataclasses.dataclass
class Components:
    """Per-image score ingredients of one batch, from a single pass of G and two of D."""

    recon: Tensor  # R(x): mean squared pixel error
    latent: Tensor  # L(x): mean squared D-feature error
    disc: Tensor  # -D(x) logit
    residual_max: Tensor  # max of the smoothed residual map
    encoder: Tensor | None  # ||z - z_hat||^2 for GANomaly-style models
    maps: Tensor  # anomaly maps [B, H, W] at the model's resolution (scoring.maps)
    reconstructions: Tensor

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-image components as float64 numpy arrays (what :class:`Scorer` reads)."""
        return {
            name: getattr(self, name).cpu().numpy().astype(np.float64)
            for name in COMPONENT_NAMES
            if getattr(self, name) is not None
        }


def compute_components(model: nn.Module, x: Tensor, sigma: float) -> Components:
    """All score ingredients for a batch; call inside :func:`eval_mode`."""
    gen = generate(model.generator, x)
    recon = gen.recon.float()
    real_logits, real_feats = discriminate(model.discriminator, x)
    _, fake_feats = discriminate(model.discriminator, gen.recon)
    maps = anomaly_map(model, x, recon, sigma)
    encoder = None if gen.z is None else ((gen.z - gen.z_hat).float() ** 2).mean(dim=1)
    return Components(
        recon=((x.float() - recon) ** 2).flatten(1).mean(dim=1),
        latent=((real_feats.float() - fake_feats.float()) ** 2).mean(dim=1),
        disc=-real_logits.float(),
        residual_max=maps.flatten(1).amax(dim=1),
        encoder=encoder,
        maps=maps,
        reconstructions=recon,
    )


@dataclasses.dataclass
class ScoreTable:
    """Score ingredients, labels, paths and defect kinds of a whole data set, as numpy arrays.

    ``maps`` holds what was kept of the anomaly maps (a pixel sample, per-image areas) when asked for.
    """

    components: dict[str, np.ndarray]
    labels: np.ndarray
    paths: list[str]
    defects: list[str] = dataclasses.field(default_factory=list)
    maps: MapCollector | None = None

    def __len__(self) -> int:
        return len(self.labels)


def score_batches(
    model: nn.Module,
    batches: Iterable[dict[str, Any]],
    sigma: float,
    device: torch.device,
    mode: Callable[[nn.Module], contextlib.AbstractContextManager[None]] = eval_mode,
    maps: MapCollector | None = None,
) -> ScoreTable:
    """Score every batch of ``{"image", "label", "path"}`` dicts (a DataLoader over a data set).

    ``mode`` sets the networks' mode for the pass: eval mode always, except to reproduce the
    released code's train-mode measurement (:mod:`anotrans.scoring.reference`). ``maps`` keeps a
    bounded share of each batch's anomaly maps (and masks) for pixel metrics and thresholds.
    """
    parts: dict[str, list[np.ndarray]] = {name: [] for name in COMPONENT_NAMES}
    labels: list[np.ndarray] = []
    paths: list[str] = []
    defects: list[str] = []
    with mode(model):
        for batch in batches:
            comp = compute_components(model, batch["image"].to(device, non_blocking=True), sigma)
            for name, values in comp.arrays().items():
                parts[name].append(values)
            labels.append(np.asarray(batch["label"]).reshape(-1))
            paths.extend(str(p) for p in batch["path"])
            defects.extend(batch.get("defect", []))
            if maps is not None:
                maps.add(comp.maps, batch)
    components = {name: np.concatenate(v) for name, v in parts.items() if v}
    return ScoreTable(
        components,
        np.concatenate(labels).astype(np.int64) if labels else np.zeros(0, int),
        paths,
        defects,
        maps,
    )


class Scorer:
    """Turns components into one raw score, and raw scores into [0, 1] with a 0.5 decision boundary.

    Everything it learns (component mean/std for zscore, min/max, threshold) is fitted on the
    validation normals only, and saved with the model so one image alone gets a stable score.
    """

    def __init__(self, config: ScoreConfig, stats: dict[str, Any] | None = None) -> None:
        self.config = config
        self.stats = stats or {}

    def raw(self, components: dict[str, np.ndarray]) -> np.ndarray:
        name = self.config.score
        if name == "encoder" and "encoder" not in components:
            raise ConfigError("--score encoder needs a model with a second encoder (ganomaly)")
        if name == "paper":
            r, lat = components["recon"], components["latent"]
            if self.config.score_norm == "zscore":
                r, lat = self._standardise("recon", r), self._standardise("latent", lat)
            lam = self.config.score_lambda
            return lam * r + (1 - lam) * lat
        if name == "latent-neg":
            return -components["latent"]
        return components[{"disc": "disc", "residual-max": "residual_max", "encoder": "encoder"}[name]]

    def _standardise(self, name: str, values: np.ndarray) -> np.ndarray:
        mean, std = self.stats["component_stats"][name]
        return (values - mean) / max(std, 1e-12)

    def fit(self, val_components: dict[str, np.ndarray], val_pixels: PixelSample | None = None) -> Scorer:
        """Fit normalisation and thresholds on the validation normals' components and map pixels."""
        self.stats = {
            "component_stats": {
                n: [float(val_components[n].mean()), float(val_components[n].std())]
                for n in ("recon", "latent")
            }
        }
        val = self.raw(val_components)
        self.stats.update(
            # heat maps share one colour scale: mid-scale = a validation-normal residual peak
            map_vmax=2 * float(np.quantile(val_components["residual_max"], self.config.threshold_quantile)),
            val_min=float(val.min()),
            val_max=float(val.max()),
            threshold=float(np.quantile(val, self.config.threshold_quantile)),
            n_val=len(val),
        )
        if val_pixels is not None:
            self.stats["pixel_threshold"] = pixel_threshold(val_pixels, self.config.pixel_quantile)
        return self

    @property
    def threshold(self) -> float:
        return self.stats["threshold"]

    @property
    def pixel_threshold(self) -> float | None:
        """The segmentation threshold on map values (None for runs saved before pixel maps existed)."""
        return self.stats.get("pixel_threshold")

    def normalise(self, raw: np.ndarray) -> np.ndarray:
        """[0, 1] with 0.5 at the threshold (:func:`normalise_scores`, shared with the ONNX runtime)."""
        return normalise_scores(raw, self.stats)

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "stats": self.stats}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scorer:
        return cls(ScoreConfig.from_dict(data["config"]), data["stats"])


def minmax(scores: np.ndarray) -> np.ndarray:
    """Eq. 10: rescale a set of scores to [0, 1] over that set (reports and plots only, not deployment)."""
    lo, hi = float(np.min(scores)), float(np.max(scores))
    return (scores - lo) / (hi - lo) if hi > lo else np.zeros_like(scores)
