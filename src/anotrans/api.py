"""Python API: ``train(...)`` a run directory and ``load(run_dir)`` a :class:`Detector` from it.

The CLI is a thin layer over these two functions, so both accept the same option names.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import yaml
from PIL import Image
from torch.utils.data import Dataset

from anotrans.data import build_splits
from anotrans.data.images import conform, list_images, load_image
from anotrans.data.spec import DataSpec
from anotrans.data.transforms import to_tensor
from anotrans.errors import CheckpointError, ConfigError, DataError
from anotrans.networks.registry import AnomalyGAN, build_model, build_model_from_config
from anotrans.scoring.report import evaluate, scores_csv
from anotrans.scoring.scores import (
    ScoreConfig,
    Scorer,
    available_scores,
    compute_components,
    eval_mode,
    score_batches,
)
from anotrans.training import checkpoint as ckpt
from anotrans.training import distributed
from anotrans.training.config import TrainConfig, known_fields
from anotrans.training.reproducibility import seed_everything
from anotrans.training.trainer import Trainer, make_loader, resolve_device

# Options that may change when a run is resumed: they change neither the model nor the data (device and
# threads may change float rounding).
RESUMABLE_OPTIONS = frozenset(
    {"epochs", "device", "workers", "threads", "progress", "compile", "dist_timeout"}
)
_ALIASES = {"lambda": "score_lambda"}


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def option_names() -> list[str]:
    """Every option ``train`` accepts (the fields of DataSpec, TrainConfig and ScoreConfig)."""
    return sorted(_fields(DataSpec) | _fields(TrainConfig) | _fields(ScoreConfig))


def parse_key_values(pairs: Sequence[str], option: str) -> dict[str, Any]:
    """``KEY=VALUE`` strings (values parsed as YAML, dashes in keys read as underscores) as a dict."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} must look like KEY=VALUE, got {pair!r}")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML (or JSON) mapping of option names to values; dashes and underscores are both accepted."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"--config: file {path} not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--config: {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config: {path} must hold a mapping of option: value")
    return data


def build_configs(options: dict[str, Any]) -> tuple[DataSpec, TrainConfig, ScoreConfig]:
    """Split flat options into the three typed configs; an unknown name is an error naming it.

    ``seed`` seeds both the data split and training, so one number reproduces a run.
    """
    opts = {_ALIASES.get(k.replace("-", "_"), k.replace("-", "_")): v for k, v in options.items()}
    unknown = sorted(set(opts) - set(option_names()))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)}; known options: {', '.join(option_names())}"
        )
    train = TrainConfig(**known_fields(TrainConfig, opts))
    spec = DataSpec(**{**known_fields(DataSpec, opts), "seed": train.seed})
    return spec, train, ScoreConfig(**known_fields(ScoreConfig, opts))


@dataclasses.dataclass
class TrainResult:
    """What ``train`` returns: the run directory and the metrics it wrote to metrics.json."""

    run_dir: Path
    metrics: dict[str, Any]


def train(
    out: str | Path = "runs/latest", *, config: str | Path | None = None, resume: bool = False, **options: Any
) -> TrainResult:
    """Train a model and write a run directory (see docs/usage.md for every option).

    ``config``: a YAML file of options; keyword options override it. ``resume=True`` continues the
    interrupted run in ``out`` with the settings saved there (only epochs/device/workers/progress may change).
    """
    merged = {**(read_config_file(config) if config else {}), **options}
    run_dir = Path(out)
    if resume:
        model, spec, train_cfg, score_cfg = _saved_run(run_dir, merged)
    else:
        spec, train_cfg, score_cfg = build_configs(merged)
        seed_everything(train_cfg.seed, train_cfg.deterministic)
        model = build_model(
            train_cfg.model, image_size=spec.image_size, channels=spec.channels, **train_cfg.model_options
        )
    splits = build_splits(spec)
    if len(splits.val) == 0:
        raise DataError(
            "the validation split is empty: the threshold needs held-out normals; raise --val-split"
        )
    # Under torchrun: one of several processes (training.distributed); otherwise a plain run.
    device = resolve_device(train_cfg.device)
    with distributed.launch(device, train_cfg.sync_bn, train_cfg.dist_timeout) as replicas:
        trainer = Trainer(model, splits, spec, train_cfg, score_cfg, run_dir, replicas)
        return TrainResult(run_dir, trainer.fit(resume=resume))


# The demo: a small AnoTrans (embed dim 16 instead of 64, two patch merges instead of three, a
# quarter-width discriminator) on the built-in synthetic data, with two training options that are
# not in the paper, each measured over seeds (docs/usage.md, "The demo"; benchmarks/demo_seeds.py):
# masked input (G rebuilds images with noise squares in them, so D learns to reject locally wrong
# texture; without it flat "missing" patches score 0.70, with it 0.94) and a linear lr decay over the last 16
# of 40 epochs (the run ends on settled networks, not mid-oscillation). One D step per G step: with
# the paper's two, this small D wins within 3 epochs and the discriminator score falls back. One
# thread: this small model gains little from a second one, and a fixed thread count makes the demo
# repeat the learning test's result (on the same CPU kernels).
DEMO_OPTIONS: dict[str, Any] = {
    "data": "synthetic",
    "model": "anotrans",
    "model_options": {"embed_dim": 16, "num_merges": 2, "depths": [2, 2, 2], "disc_ndf": 16, "disc_nz": 32},
    "image_size": 32,
    "epochs": 40,
    "lr_decay_epochs": 16,
    "masked_input": 0.25,
    "batch_size": 16,
    "d_steps": 1,
    "seed": 0,
    "threads": 1,
}


DEMO_SAMPLES = 4  # normal and defective test images written to RUN_DIR/samples for `predict`


def demo(out: str | Path = "runs/demo", **overrides: Any) -> TrainResult:
    """Train the demo model (``DEMO_OPTIONS``) into ``out``; ``out/samples`` gets images to predict on.

    Another ``epochs`` keeps the demo's schedule in proportion: the learning rate decays over the same
    share of the run (16 of 40 epochs), unless ``lr_decay_epochs`` is given too.
    """
    from anotrans.data import make_synthetic

    options = {**DEMO_OPTIONS, **overrides}
    if "lr_decay_epochs" not in overrides:
        share = DEMO_OPTIONS["lr_decay_epochs"] / DEMO_OPTIONS["epochs"]
        options["lr_decay_epochs"] = round(options["epochs"] * share)
    result = train(out, **options)
    if not distributed.main_process():
        return result
    samples = make_synthetic(2 * DEMO_SAMPLES, DEMO_OPTIONS["image_size"], 3, (10_000, 1), anomaly_ratio=0.5)
    folder = Path(out) / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    for i, (image, kind) in enumerate(zip(samples.images, samples.kinds, strict=True)):
        Image.fromarray(image).save(folder / f"{i:02d}_{kind}.png")
    return result


def _saved_run(
    run_dir: Path, overrides: dict[str, Any]
) -> tuple[AnomalyGAN, DataSpec, TrainConfig, ScoreConfig]:
    saved = ckpt.read_json(run_dir / ckpt.CONFIG_FILE)
    refused = sorted(set(overrides) - RESUMABLE_OPTIONS)
    if refused:
        raise ConfigError(
            f"--resume takes its settings from {run_dir / ckpt.CONFIG_FILE}; "
            f"drop {', '.join(refused)} (only {', '.join(sorted(RESUMABLE_OPTIONS))} may change)"
        )
    train_cfg = TrainConfig.from_dict({**saved["training"], **overrides})
    return (
        build_model_from_config(saved["model"]),
        DataSpec.from_dict(saved["data"]),
        train_cfg,
        ScoreConfig.from_dict(saved["score"]),
    )


@dataclasses.dataclass
class Prediction:
    """Per-image results: ``scores`` in [0, 1] with 0.5 the decision boundary, ``labels`` 1 = abnormal.

    ``maps`` are the smoothed residual maps [N, H, W]; ``reconstructions`` [N, C, H, W] in [-1, 1] only
    when asked for; ``images`` are the model inputs, also only when asked for.
    """

    paths: list[str]
    scores: np.ndarray
    raw_scores: np.ndarray
    labels: np.ndarray
    maps: np.ndarray
    reconstructions: np.ndarray | None = None
    images: np.ndarray | None = None


ImageLike = str | Path | Image.Image | torch.Tensor


class Detector:
    """A trained model with its validation-fitted score normalisation and threshold.

    ``precision="bf16"`` casts the weights and the input images to bfloat16 (no autocast: inference needs
    no fp32 master weights, and autocast's per-layer casts and fp32 norms/GELU cost time). On a CPU with
    bf16 matmul it scores 1.7-2x faster than fp32 with scores within bf16 rounding; maps, reconstructions
    and scores still come back as fp32.
    """

    PRECISIONS: ClassVar[dict[str, torch.dtype]] = {"fp32": torch.float32, "bf16": torch.bfloat16}

    def __init__(
        self,
        model: AnomalyGAN,
        scorer: Scorer,
        spec: DataSpec,
        device: torch.device,
        batch_size: int = 32,
        precision: str = "fp32",
    ) -> None:
        if precision not in self.PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(self.PRECISIONS)}, got {precision!r}")
        self.dtype = self.PRECISIONS[precision]
        self.model = model.to(device, self.dtype).eval()
        self.scorer = scorer
        self.spec = spec
        self.device = device
        self.batch_size = batch_size

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "auto", precision: str = "fp32") -> Detector:
        run_dir = Path(run_dir)
        saved = ckpt.read_json(run_dir / ckpt.CONFIG_FILE)
        if saved.get("normalisation") is None:
            raise CheckpointError(
                f"{run_dir} holds an unfinished run: finish it with `anotrans train --resume {run_dir}`"
            )
        model = build_model_from_config(saved["model"])
        ckpt.load_weights(run_dir / ckpt.MODEL_FILE, model)
        scorer = Scorer(ScoreConfig.from_dict(saved["score"]), saved["normalisation"])
        return cls(
            model,
            scorer,
            DataSpec.from_dict(saved["data"]),
            resolve_device(device),
            saved["training"].get("batch_size", 32),
            precision,
        )

    def _inputs(self, images: ImageLike | Sequence[ImageLike]) -> list[tuple[str, ImageLike]]:
        """Flatten folders, single items and batched tensors into (name, item) pairs."""
        if isinstance(images, torch.Tensor) and images.dim() == 4:
            images = list(images)
        if isinstance(images, (str, Path, Image.Image, torch.Tensor)):
            images = [images]
        items: list[tuple[str, ImageLike]] = []
        for i, item in enumerate(images):
            if isinstance(item, (str, Path)) and Path(item).is_dir():
                found = list_images(item)
                if not found:
                    raise DataError(f"{item}: no image files in this folder")
                items.extend((p, p) for p in found)
            else:
                items.append((str(item) if isinstance(item, (str, Path)) else f"#{i}", item))
        return items

    def _tensor(self, item: ImageLike) -> torch.Tensor:
        size, channels = self.spec.image_size, self.spec.channels
        if isinstance(item, (str, Path)):
            return load_image(item, size, channels)
        if isinstance(item, Image.Image):
            return to_tensor(conform(item, size, channels))
        if tuple(item.shape) != (channels, size, size):
            raise DataError(
                f"a tensor image must be [{channels}, {size}, {size}] in [-1, 1], got {list(item.shape)}"
            )
        return item.float()

    def iter_predict(
        self, images: ImageLike | Sequence[ImageLike], keep_images: bool = False
    ) -> Iterator[Prediction]:
        """Predictions batch by batch, so a large folder never sits in memory at once."""
        items = self._inputs(images)
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            x = torch.stack([self._tensor(item) for _, item in chunk]).to(self.device)
            with eval_mode(self.model):
                comp = compute_components(self.model, x.to(self.dtype), self.scorer.config.smoothing_sigma)
            raw = self.scorer.raw(comp.arrays())
            yield Prediction(
                paths=[name for name, _ in chunk],
                scores=self.scorer.normalise(raw),
                raw_scores=raw,
                labels=(raw > self.scorer.threshold).astype(np.int64),
                maps=comp.maps.cpu().numpy(),
                reconstructions=comp.reconstructions.cpu().numpy() if keep_images else None,
                images=x.cpu().numpy() if keep_images else None,
            )

    def predict(self, images: ImageLike | Sequence[ImageLike], keep_images: bool = False) -> Prediction:
        """Scores, labels and residual maps of paths, folders, PIL images or [-1, 1] tensors."""
        parts = list(self.iter_predict(images, keep_images))
        if not parts:
            raise DataError("predict got no images")
        arrays = {}
        for name in ("scores", "raw_scores", "labels", "maps", "reconstructions", "images"):
            values = [getattr(part, name) for part in parts]
            arrays[name] = None if values[0] is None else np.concatenate(values)
        return Prediction(paths=[p for part in parts for p in part.paths], **arrays)

    def score(self, images: ImageLike | Sequence[ImageLike]) -> np.ndarray:
        """Just the [0, 1] scores (0.5 = threshold)."""
        return self.predict(images).scores

    def _batches(self, dataset: Dataset) -> Iterator[dict[str, Any]]:
        """Loader batches with the images in the networks' dtype, which ``score_batches`` feeds as given."""
        for batch in make_loader(dataset, self.batch_size):
            yield {**batch, "image": batch["image"].to(self.dtype)}

    def test(
        self, spec: DataSpec | dict[str, Any] | None = None, out: str | Path | None = None
    ) -> dict[str, Any]:
        """Metrics on a labelled data set (default: the run's own test split), with the saved threshold.

        The headline uses the saved threshold; ``image_auroc_by_score`` fits the other formulas on the
        validation normals of ``spec``. ``out`` also writes metrics.json and scores.csv there.
        """
        spec = self.spec if spec is None else spec if isinstance(spec, DataSpec) else DataSpec.from_dict(spec)
        splits = build_splits(spec)
        if splits.test is None or len(splits.test) == 0:
            raise DataError(f"data {spec.data!r} has no labelled test set to test on")
        sigma = self.scorer.config.smoothing_sigma
        val = score_batches(self.model, self._batches(splits.val), sigma, self.device)
        start = time.perf_counter()
        test = score_batches(self.model, self._batches(splits.test), sigma, self.device)
        seconds = time.perf_counter() - start
        metrics = evaluate(self.scorer, available_scores(self.model), val, test)
        metrics.update(
            test_seconds=seconds, test_images_per_second=len(test) / max(seconds, 1e-9), data=spec.to_dict()
        )
        if out is not None:
            ckpt.write_json(Path(out) / ckpt.METRICS_FILE, metrics)
            ckpt.atomic_write_bytes(Path(out) / ckpt.SCORES_FILE, scores_csv(self.scorer, test).encode())
        return metrics


def load(run_dir: str | Path, device: str = "auto", precision: str = "fp32") -> Detector:
    """Load a finished run directory written by ``train`` or ``anotrans train`` (see :class:`Detector`)."""
    return Detector.load(run_dir, device, precision)
