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
import torch.nn.functional as F
from torch import Tensor, nn

from anotrans.errors import ConfigError
from anotrans.networks.calling import discriminate, generate, has_latent_encoder
from anotrans.networks.discriminator import QUARTER_TURNS, quarter_turns
from anotrans.scoring import tiling
from anotrans.scoring.maps import (
    AUTO_MAP,
    DEFAULT_MAP,
    MAP_KINDS,
    MapCollector,
    feature_extractor,
    pixel_threshold,
    smooth,
    topk_mean,
)
from anotrans.scoring.metrics import PixelSample
from anotrans.scoring.predictions import normalise_scores
from anotrans.scoring.profile import MapProfile
from anotrans.utils.sections import Section

SCORE_FORMULAS: dict[str, str] = {
    "paper": "Eq. 9: lambda*R + (1-lambda)*L; R = pixel MSE of x vs G(x), L = MSE of D's features",
    "latent-neg": "-L: the negated discriminator-feature distance",
    "disc": "-D(x): the discriminator's real/fake logit of the input, negated (higher = less real)",
    "residual-max": "max over pixels of the Gaussian-smoothed residual |x - G(x)| averaged over channels",
    "encoder": "GANomaly's ||z - z_hat||^2 (mean over the latent); only for models with a second encoder",
    "residual-topk": "mean of the top 1% pixels of the smoothed residual map (robust to single hot pixels)",
    "ssim-topk": "mean of the top 1% pixels of the smoothed structural residual (1 - SSIM) / 2",
    "feature-topk": "mean of the top 1% pixels of the per-location residual in D's mid-level features",
    "rotation": "mean cross-entropy of D's quarter-turn head over the four turns of the input "
    "(class-level novelty; only for models trained with --rotation-loss)",
    "mix": "sum of disc, residual-topk, ssim-topk and feature-topk, each z-scored on validation normals",
    "zmap-topk": "mean of the top 1% pixels of the anomaly map standardised pixel by pixel against the "
    "validation normals' maps (their mean and spread at each pixel; anotrans.scoring.profile)",
}
AUTO_SCORE = "auto"  # chosen per run on synthetic validation anomalies (anotrans.scoring.selection)
SCORE_NORMS = ("raw", "zscore")
COMPONENT_NAMES = (
    "recon",
    "latent",
    "disc",
    "residual_max",
    "encoder",
    "residual_topk",
    "ssim_topk",
    "feature_topk",
    "map_max",
    "rotation",
    "zmap_topk",
)
MIXED = ("disc", "residual_topk", "ssim_topk", "feature_topk")  # what `mix` z-scores and sums
DEFAULT_SCORE = "disc"


@dataclasses.dataclass
class ScoreConfig(Section):
    """Which score, how it is mixed, and how the deployment threshold is taken from validation normals.

    ``score_lambda`` is lambda of Eq. 9 (the weight on R): 0.1 in the paper, 0.9 in the released code.
    ``score_norm`` "zscore" standardises R and L by their validation-normal mean/std before mixing.
    ``threshold_quantile``: the threshold is this quantile of the validation normals' raw scores.
    ``pixel_quantile``: the pixel threshold (segmentation) is this quantile of their map pixels.
    ``score`` "auto" is resolved when training ends: the formula and ``smoothing_sigma`` with the best
    synthetic-validation AUROC (anotrans.scoring.selection); the saved config holds the choice.
    ``tile_stride``: patch mode's tile step in pixels (0 = half the model's input side).
    ``anomaly_map``: which per-pixel map (:data:`~anotrans.scoring.maps.MAP_KINDS`) is *the* map of test,
    predict, pixel metrics and export; "auto" is resolved when training ends, like ``score``.
    """

    SECTION: ClassVar[str] = "score"

    score: str = DEFAULT_SCORE
    score_norm: str = "raw"
    score_lambda: float = 0.1
    smoothing_sigma: float = 1.0
    threshold_quantile: float = 0.95
    pixel_quantile: float = 0.99
    tile_stride: int = 0
    anomaly_map: str = DEFAULT_MAP

    def __post_init__(self) -> None:
        if self.score not in (*SCORE_FORMULAS, AUTO_SCORE):
            raise ConfigError(
                f"--score must be one of {', '.join(SCORE_FORMULAS)}, {AUTO_SCORE}, got {self.score!r}"
            )
        if self.anomaly_map not in (*MAP_KINDS, AUTO_MAP):
            raise ConfigError(
                f"--anomaly-map must be one of {', '.join(MAP_KINDS)}, {AUTO_MAP}, got {self.anomaly_map!r}"
            )
        if self.tile_stride < 0:
            raise ConfigError(f"--tile-stride must be >= 0, got {self.tile_stride}")
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


# formula -> what a model needs for it (scores of every other formula work for every model)
NEEDS = {
    "encoder": "a model with a second encoder (ganomaly)",
    "feature-topk": "a model with a DCGAN-style discriminator",
    "rotation": "a model trained with --rotation-loss (D's quarter-turn head)",
    "zmap-topk": "a map profile of the validation normals (fitted when training ends, from three or "
    "more validation normals; runs saved before anotrans had profiles have none)",
}
# Formulas with no per-epoch value: their profile is fitted on the final weights only, so epochs are
# compared as under --score auto (anotrans.scoring.selection.epoch_criterion).
PROFILE_SCORES = ("zmap-topk",)


def available_scores(model: nn.Module, profile: MapProfile | None = None) -> list[str]:
    """The formulas this model (and, for ``zmap-topk``, its map ``profile``) supports (see NEEDS)."""
    has = {
        "encoder": has_latent_encoder(model.generator),
        "feature-topk": feature_extractor(model.discriminator) is not None,
        "rotation": getattr(model.discriminator, "rotation", None) is not None,
        "zmap-topk": profile is not None,
    }
    return [s for s in SCORE_FORMULAS if has.get(s, True)]


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
    residual_topk: Tensor  # top-k mean of the smoothed residual map
    ssim_topk: Tensor  # top-k mean of the smoothed structural residual map
    feature_topk: Tensor | None  # top-k mean of D's smoothed feature residual map (DCGAN D only)
    rotation: Tensor | None  # D's mean quarter-turn cross-entropy (models trained with --rotation-loss)
    zmap_topk: Tensor | None  # top-k mean of the map standardised by the normals' profile (given one)
    map_max: Tensor  # max of the configured anomaly map (its colour scale is fitted on this)
    maps: Tensor  # anomaly maps [B, H, W] (scoring.maps) at the input's size (patch mode: stitched tiles)
    reconstructions: Tensor

    def arrays(self) -> dict[str, np.ndarray]:
        """The per-image components as float64 numpy arrays (what :class:`Scorer` reads)."""
        return {
            name: getattr(self, name).cpu().numpy().astype(np.float64)
            for name in COMPONENT_NAMES
            if getattr(self, name) is not None
        }


def _raw_outputs(model: nn.Module, x: Tensor) -> dict[str, Tensor | None]:
    """Per-image scalars and unsmoothed per-pixel maps of one pass at the model's own input size."""
    gen = generate(model.generator, x)
    recon = gen.recon.float()
    real_logits, real_feats = discriminate(model.discriminator, x)
    _, fake_feats = discriminate(model.discriminator, gen.recon)
    return {
        "recon": recon,
        "latent": ((real_feats.float() - fake_feats.float()) ** 2).mean(dim=1),
        "disc": -real_logits.float(),
        "encoder": None if gen.z is None else ((gen.z - gen.z_hat).float() ** 2).mean(dim=1),
        "rotation": rotation_surprise(model.discriminator, x),
        **{kind: make(model, x, gen.recon) for kind, make in MAP_KINDS.items()},
    }


def rotation_surprise(discriminator: nn.Module, x: Tensor) -> Tensor | None:
    """Per image, the mean cross-entropy of D's quarter-turn head over x's four turns: high when D
    cannot tell which way up the image stands (None for a D without the head)."""
    head = getattr(discriminator, "rotation", None)
    if head is None:
        return None
    turned, turns = quarter_turns(x)
    _, feats = discriminate(discriminator, turned)
    surprise = F.cross_entropy(head(feats).float(), turns, reduction="none")
    return surprise.view(QUARTER_TURNS, x.shape[0]).mean(dim=0)


SCALARS = ("latent", "disc", "encoder", "rotation")
PIXELWISE = ("recon", *MAP_KINDS)


def _tiled_outputs(model: nn.Module, x: Tensor, size: int, stride: int) -> dict[str, Tensor | None]:
    """Patch mode: outputs of every tile; maps stitched to x's size, scalars the max over tiles."""
    tiles, positions = tiling.cut(x, size, stride or max(1, size // 2))
    out = _raw_outputs(model, tiles)
    h, w = x.shape[-2:]
    return {
        **{k: None if out[k] is None else tiling.per_image_max(out[k], len(positions)) for k in SCALARS},
        **{k: None if out[k] is None else tiling.stitch(out[k], positions, h, w) for k in PIXELWISE},
    }


def compute_components(
    model: nn.Module,
    x: Tensor,
    sigma: float,
    tile_stride: int = 0,
    map_kind: str = DEFAULT_MAP,
    profile: MapProfile | None = None,
) -> Components:
    """All score ingredients for a batch, with ``map_kind`` as its anomaly map; call inside :func:`eval_mode`.

    Images larger than the model's input (patch mode) are scored by overlapping tiles
    (:mod:`anotrans.scoring.tiling`) into one map per image at the image's own size. ``profile`` (the
    validation normals' maps of this kind and smoothing) adds the ``zmap_topk`` component.
    """
    if profile is not None and (profile.map_kind, profile.sigma) != (map_kind, sigma):
        raise ConfigError(
            f"the map profile was fitted on {profile.map_kind!r} maps at sigma {profile.sigma:g}, "
            f"not on {map_kind!r} maps at sigma {sigma:g}"
        )
    size = getattr(getattr(model, "config", None), "image_size", x.shape[-1])
    out = _tiled_outputs(model, x, size, tile_stride) if x.shape[-1] > size else _raw_outputs(model, x)
    smoothed = {k: None if out[k] is None else smooth(out[k], sigma) for k in MAP_KINDS}
    if smoothed[map_kind] is None:
        raise ConfigError(f"--anomaly-map {map_kind} needs a model with a DCGAN-style discriminator")
    maps, recon = smoothed[map_kind], out["recon"]
    return Components(
        recon=((x.float() - recon) ** 2).flatten(1).mean(dim=1),
        latent=out["latent"],
        disc=out["disc"],
        residual_max=smoothed["residual"].flatten(1).amax(dim=1),
        encoder=out["encoder"],
        residual_topk=topk_mean(smoothed["residual"]),
        ssim_topk=topk_mean(smoothed["ssim"]),
        feature_topk=None if smoothed["feature"] is None else topk_mean(smoothed["feature"]),
        rotation=out["rotation"],
        zmap_topk=None if profile is None else profile.score(maps),
        map_max=maps.flatten(1).amax(dim=1),
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
    tile_stride: int = 0,
    maps: MapCollector | None = None,
    map_kind: str = DEFAULT_MAP,
    profile: MapProfile | None = None,
) -> ScoreTable:
    """Score every batch of ``{"image", "label", "path"}`` dicts (a DataLoader over a data set).

    ``mode`` sets the networks' mode for the pass: eval mode always, except to reproduce the
    released code's train-mode measurement (:mod:`anotrans.scoring.reference`). ``maps`` keeps a
    bounded share of each batch's anomaly maps (and masks) for pixel metrics and thresholds.
    ``profile`` adds the ``zmap_topk`` component (:func:`compute_components`).
    """
    parts: dict[str, list[np.ndarray]] = {name: [] for name in COMPONENT_NAMES}
    labels: list[np.ndarray] = []
    paths: list[str] = []
    defects: list[str] = []
    with mode(model):
        for batch in batches:
            image = batch["image"].to(device, non_blocking=True)
            comp = compute_components(model, image, sigma, tile_stride, map_kind, profile)
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
        if name in NEEDS and name.replace("-", "_") not in components:
            raise ConfigError(f"--score {name} needs {NEEDS[name]}")
        if name == "paper":
            r, lat = components["recon"], components["latent"]
            if self.config.score_norm == "zscore":
                r, lat = self._standardise("recon", r), self._standardise("latent", lat)
            lam = self.config.score_lambda
            return lam * r + (1 - lam) * lat
        if name == "latent-neg":
            return -components["latent"]
        if name == "mix":
            return sum(self._standardise(n, components[n]) for n in MIXED if n in components)
        if name == AUTO_SCORE:
            raise ConfigError("--score auto is resolved when training ends; this run has not chosen yet")
        return components[name.replace("-", "_")]

    def _standardise(self, name: str, values: np.ndarray) -> np.ndarray:
        mean, std = self.stats["component_stats"][name]
        return (values - mean) / max(std, 1e-12)

    def fit(self, val_components: dict[str, np.ndarray], val_pixels: PixelSample | None = None) -> Scorer:
        """Fit normalisation and thresholds on the validation normals' components and map pixels."""
        self.stats = {
            "component_stats": {
                n: [float(val_components[n].mean()), float(val_components[n].std())]
                for n in ("recon", "latent", *MIXED)
                if n in val_components
            }
        }
        val = self.raw(val_components)
        self.stats.update(
            # heat maps share one colour scale: mid-scale = a validation-normal map peak
            map_vmax=2 * float(np.quantile(val_components["map_max"], self.config.threshold_quantile)),
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
