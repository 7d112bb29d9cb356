"""The torch-free predictor of an exported model: onnxruntime, numpy and Pillow only.

``anotrans.load("model.onnx")`` and ``anotrans predict model.onnx ...`` run here. Images are decoded and
resized by :mod:`anotrans.data.images` and scores normalised by :mod:`anotrans.scoring.predictions`,
the same code the torch path uses, so both paths agree up to the graph's float rounding.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from anotrans.data.images import expand_inputs, model_input
from anotrans.errors import CheckpointError, DataError
from anotrans.export.metadata import INPUT_NAME, OUTPUT_NAMES, ModelInfo
from anotrans.scoring.predictions import Prediction


class OnnxDetector:
    """An exported model with its metadata; answers like :class:`anotrans.api.Detector`.

    ``threads``: onnxruntime intra-op threads (0: onnxruntime's default, one per core).
    """

    def __init__(self, session: ort.InferenceSession, info: ModelInfo, batch_size: int = 32) -> None:
        self.session = session
        self.info = info
        self.batch_size = batch_size

    @classmethod
    def load(cls, path: str | Path, batch_size: int = 32, threads: int = 0) -> OnnxDetector:
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: file not found")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable models
            raise CheckpointError(f"{path}: onnxruntime cannot load this model ({exc})") from None
        info = ModelInfo.from_props(session.get_modelmeta().custom_metadata_map, str(path))
        return cls(session, info, batch_size)

    @property
    def threshold(self) -> float:
        return self.info.threshold

    @property
    def pixel_threshold(self) -> float | None:
        """The segmentation threshold on map values (None for runs saved before pixel maps existed)."""
        return self.info.stats.get("pixel_threshold")

    @property
    def map_vmax(self) -> float:
        return self.info.map_vmax

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The graph's ``(raw_score [B], map [B, H, W], reconstruction [B, C, H, W])`` for a [-1, 1] batch."""
        raw, maps, recon = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch.astype(np.float32)})
        return raw, maps, recon

    def iter_predict(self, images: Any, keep_images: bool = False) -> Iterator[Prediction]:
        """Predictions batch by batch, so a large folder never sits in memory at once."""
        items = expand_inputs(images)
        size, channels = self.info.image_size, self.info.channels
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            x = np.stack([model_input(item, size, channels) for _, item in chunk])
            raw, maps, recon = self.run(x)
            yield Prediction.from_raw(
                [name for name, _ in chunk],
                raw,
                self.info.stats,
                maps,
                recon if keep_images else None,
                x if keep_images else None,
            )

    def predict(self, images: Any, keep_images: bool = False) -> Prediction:
        """Scores, labels and anomaly maps of paths, folders, PIL images or [-1, 1] arrays."""
        parts = list(self.iter_predict(images, keep_images))
        if not parts:
            raise DataError("predict got no images")
        return Prediction.concatenate(parts)

    def score(self, images: Any) -> np.ndarray:
        """Just the [0, 1] scores (0.5 = threshold)."""
        return self.predict(images).scores


def load_onnx(path: str | Path, batch_size: int = 32, threads: int = 0) -> OnnxDetector:
    """Load an exported model (see :class:`OnnxDetector`)."""
    return OnnxDetector.load(path, batch_size, threads)
