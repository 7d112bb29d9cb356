"""Inference on a finished run: :class:`Detector` scores images with the saved threshold and normalisation."""

from __future__ import annotations

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
from anotrans.data.images import (
    expand_inputs,
    image_size_of,
    model_input,
    open_image,
    set_max_image_pixels,
    to_channels,
)
from anotrans.data.loader import make_loader
from anotrans.data.spec import DataSpec
from anotrans.errors import CheckpointError, ConfigError, DataError
from anotrans.networks.registry import AnomalyGAN, build_model_from_config
from anotrans.scoring.maps import MapCollector, upsample
from anotrans.scoring.predictions import Prediction
from anotrans.scoring.profile import MapProfile
from anotrans.scoring.report import evaluate, run_files
from anotrans.scoring.scores import Scorer, available_scores, compute_components, eval_mode, score_batches
from anotrans.training import checkpoint as ckpt
from anotrans.utils.devices import resolve_device
from anotrans.utils.files import atomic_write_bytes, write_json

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
        profile: MapProfile | None = None,
    ) -> None:
        if precision not in self.PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(self.PRECISIONS)}, got {precision!r}")
        self.dtype = self.PRECISIONS[precision]
        set_max_image_pixels(spec.max_image_pixels)
        self.model = model.to(device, self.dtype).eval()
        self.scorer = scorer
        self.profile = None if profile is None else profile.to(device)  # zmap-topk's normal-map profile
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
        device_ = resolve_device(device)
        profile = MapProfile.load(run_dir)
        return cls(model, scorer, run.data, device_, run.training.batch_size, precision, profile)

    @property
    def pixel_threshold(self) -> float | None:
        """The segmentation threshold on map values (None for runs saved before pixel maps existed)."""
        return self.scorer.pixel_threshold

    @property
    def map_vmax(self) -> float:
        """Top of the heat maps' fixed colour scale (fitted on validation normals)."""
        return self.scorer.stats["map_vmax"]

    def _own_size(self, item: ImageLike) -> tuple[int, int]:
        """(height, width) of the input as given: a file's or PIL image's own size, a tensor's."""
        if isinstance(item, (str, Path)):
            width, height = image_size_of(item)
        elif isinstance(item, Image.Image):
            width, height = item.size
        else:
            height, width = item.shape[-2:]
        return height, width

    def write_maps(
        self,
        folder: str | Path,
        index: int,
        item: ImageLike,
        x: torch.Tensor | np.ndarray,
        map_: torch.Tensor | np.ndarray,
    ) -> None:
        """Save one image's map at its own resolution: ``NNNNN_name.npy`` (the raw float map) and
        ``NNNNN_name.png`` (its overlay, one fixed colour scale for every image of the run).

        ``item`` is the image file (overlaid at its own size when it exists) or a name; ``x`` the model
        input [C, H, W] in [-1, 1], overlaid when ``item`` is no file.
        """
        from anotrans.scoring.visualize import map_file_stem, map_files  # matplotlib: only when drawing

        x, map_ = torch.as_tensor(x), torch.as_tensor(map_)

        if isinstance(item, (str, Path)) and Path(item).is_file():
            original = np.asarray(to_channels(open_image(item), 3))
        elif isinstance(item, Image.Image):
            original = np.asarray(to_channels(item, 3))
        else:
            original = ((x.float().cpu().numpy().transpose(1, 2, 0) + 1.0) * 127.5).round().clip(0, 255)
            original = original.astype(np.uint8)
        values = upsample(map_[None].float().cpu(), original.shape[:2])[0].numpy()
        name = item if isinstance(item, (str, Path)) else f"#{index}"
        files = map_files(map_file_stem(index, str(name)), values, original, self.map_vmax)
        for file_name, data in files.items():
            atomic_write_bytes(Path(folder) / file_name, data)

    def _tensor(self, item: ImageLike) -> torch.Tensor:
        if isinstance(item, torch.Tensor):
            item = item.detach().float().cpu()
        return torch.from_numpy(model_input(item, self.spec.image_size, self.spec.channels))

    def iter_predict(
        self, images: ImageLike | Sequence[ImageLike], keep_images: bool = False
    ) -> Iterator[Prediction]:
        """Predictions batch by batch, so a large folder never sits in memory at once."""
        items = expand_inputs(images)
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            x = torch.stack([self._tensor(item) for _, item in chunk]).to(self.device)
            with eval_mode(self.model):
                config = self.scorer.config
                comp = compute_components(
                    self.model,
                    x.to(self.dtype),
                    config.smoothing_sigma,
                    config.tile_stride,
                    config.anomaly_map,
                    self.profile,
                )
            yield Prediction.from_raw(
                [name for name, _ in chunk],
                self.scorer.raw(comp.arrays()),
                self.scorer.stats,
                comp.maps.cpu().numpy(),
                comp.reconstructions.cpu().numpy() if keep_images else None,
                x.cpu().numpy() if keep_images else None,
                sizes=[self._own_size(item) for _, item in chunk],
            )

    def predict(self, images: ImageLike | Sequence[ImageLike], keep_images: bool = False) -> Prediction:
        """Scores, labels and anomaly maps of paths, folders, PIL images or [-1, 1] tensors."""
        parts = list(self.iter_predict(images, keep_images))
        if not parts:
            raise DataError("predict got no images")
        return Prediction.concatenate(parts)

    def score(self, images: ImageLike | Sequence[ImageLike]) -> np.ndarray:
        """Just the [0, 1] scores (0.5 = threshold)."""
        return self.predict(images).scores

    def _batches(self, dataset: Dataset) -> Iterator[dict[str, Any]]:
        """Loader batches with the images in the networks' dtype, which ``score_batches`` feeds as given."""
        for batch in make_loader(dataset, self.batch_size):
            yield {**batch, "image": batch["image"].to(self.dtype)}

    def test(
        self,
        spec: DataSpec | dict[str, Any] | None = None,
        out: str | Path | None = None,
        save_maps: bool = False,
    ) -> dict[str, Any]:
        """Metrics on a labelled data set (default: the run's own test split), with the saved thresholds.

        The headline uses the saved thresholds; ``image_auroc_by_score`` fits the other formulas on the
        validation normals of ``spec``; pixel metrics need a data set with masks. ``out`` also writes
        metrics.json, scores.csv and pixel_curves.json there, and with ``save_maps`` each test image's
        map (``out/maps``, see :meth:`write_maps`).
        """
        spec = self.spec if spec is None else spec if isinstance(spec, DataSpec) else DataSpec.from_dict(spec)
        if save_maps and out is None:
            raise ConfigError("--save-maps needs --out, the folder to write the maps to")
        splits = build_splits(spec)
        if splits.test is None or len(splits.test) == 0:
            raise DataError(f"data {spec.data!r} has no labelled test set to test on")
        sigma = self.scorer.config.smoothing_sigma
        stride = self.scorer.config.tile_stride
        kind = self.scorer.config.anomaly_map
        val = score_batches(
            self.model,
            self._batches(splits.val),
            sigma,
            self.device,
            tile_stride=stride,
            map_kind=kind,
            profile=self.profile,
        )
        written, writing = 0, 0.0  # writing: seconds spent on map files, left out of the test speed

        def write_batch(maps: torch.Tensor, batch: dict[str, Any]) -> None:
            nonlocal written, writing
            begin = time.perf_counter()
            for i, path in enumerate(batch["path"]):
                self.write_maps(Path(out) / "maps", written, path, batch["image"][i], maps[i])
                written += 1
            writing += time.perf_counter() - begin

        collector = MapCollector(
            splits.info.get("has_masks", False),
            self.scorer.pixel_threshold,
            spec.seed,
            each_batch=write_batch if save_maps else None,
        )
        start = time.perf_counter()
        test = score_batches(
            self.model,
            self._batches(splits.test),
            sigma,
            self.device,
            tile_stride=stride,
            maps=collector,
            map_kind=kind,
            profile=self.profile,
        )
        seconds = time.perf_counter() - start - writing
        metrics = evaluate(self.scorer, available_scores(self.model, self.profile), val, test)
        metrics.update(
            test_seconds=seconds, test_images_per_second=len(test) / max(seconds, 1e-9), data=spec.to_dict()
        )
        if out is not None:
            write_json(Path(out) / ckpt.METRICS_FILE, metrics)
            for name, data in run_files(self.scorer, test).items():
                atomic_write_bytes(Path(out) / name, data)
        return metrics


def load(run_dir: str | Path, device: str = "auto", precision: str = "fp32") -> Detector:
    """Load a finished run directory written by ``train`` or ``anotrans train`` (see :class:`Detector`)."""
    return Detector.load(run_dir, device, precision)
