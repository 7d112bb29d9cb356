"""Inference on a finished run: :class:`Detector` scores images with the saved threshold and normalisation."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from anotrans.config import read_run_config
from anotrans.data import build_splits
from anotrans.data.images import conform, list_images, load_image, set_max_image_pixels
from anotrans.data.loader import make_loader
from anotrans.data.spec import DataSpec
from anotrans.data.transforms import to_tensor
from anotrans.errors import CheckpointError, ConfigError, DataError
from anotrans.networks.registry import AnomalyGAN, build_model_from_config
from anotrans.scoring.report import evaluate, scores_csv
from anotrans.scoring.scores import Scorer, available_scores, compute_components, eval_mode, score_batches
from anotrans.training import checkpoint as ckpt
from anotrans.utils.devices import resolve_device
from anotrans.utils.files import atomic_write_bytes, write_json


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
        set_max_image_pixels(spec.max_image_pixels)
        self.model = model.to(device, self.dtype).eval()
        self.scorer = scorer
        self.spec = spec
        self.device = device
        self.batch_size = batch_size

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "auto", precision: str = "fp32") -> Detector:
        """The finished run in ``run_dir`` (see :func:`load`)."""
        run_dir = Path(run_dir)
        run = read_run_config(run_dir)
        if run.normalisation is None:
            raise CheckpointError(
                f"{run_dir} holds an unfinished run: finish it with `anotrans train --resume {run_dir}`"
            )
        model = build_model_from_config(run.model, run.source)
        ckpt.load_weights(run_dir / ckpt.MODEL_FILE, model)
        scorer = Scorer(run.score, run.normalisation)
        return cls(model, scorer, run.data, resolve_device(device), run.training.batch_size, precision)

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
            write_json(Path(out) / ckpt.METRICS_FILE, metrics)
            atomic_write_bytes(Path(out) / ckpt.SCORES_FILE, scores_csv(self.scorer, test).encode())
        return metrics


def load(run_dir: str | Path, device: str = "auto", precision: str = "fp32") -> Detector:
    """Load a finished run directory written by ``train`` or ``anotrans train`` (see :class:`Detector`)."""
    return Detector.load(run_dir, device, precision)
