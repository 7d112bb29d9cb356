"""The metadata an exported model carries, so the ``.onnx`` file alone is enough to predict.

Stored as ONNX ``metadata_props`` (string key -> string value; structured values as JSON). Written by
:mod:`anotrans.export.onnx_export` from a run's config.json, read by :mod:`anotrans.export.runtime`
and shown by the server's ``GET /model``. numpy-free and torch-free.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from anotrans.errors import CheckpointError

FORMAT_VERSION = 1
ONNX_SUFFIX = ".onnx"
EXPORT_PRECISIONS = ("fp32", "fp16")
DEFAULT_OPSET = 17
MIN_OPSET = 14  # scaled_dot_product_attention (the ViT encoder's attention) needs opset 14
INPUT_NAME = "image"
OUTPUT_NAMES = ("raw_score", "map", "reconstruction")
PREPROCESSING = (
    "decode with Pillow; convert to RGB (channels=3) or L (channels=1); resize (squash) to "
    "image_size x image_size, bilinear; x / 127.5 - 1 -> float32 [B, C, H, W] in [-1, 1]"
)
NORMALISATION = (
    "score = clip((raw_score - threshold) / (val_max - val_min) + 0.5, 0, 1); abnormal: raw_score > threshold"
)


def is_onnx_file(path: str | Path) -> bool:
    """An ``.onnx`` path names an exported model; anything else is taken as a run directory."""
    return Path(path).suffix.lower() == ONNX_SUFFIX and not Path(path).is_dir()


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """Everything outside the graph that prediction needs, plus what the model is."""

    model_name: str
    image_size: int
    channels: int
    score: str
    score_formula: str
    score_config: dict[str, Any]
    stats: dict[str, Any]  # threshold, val_min, val_max, map_vmax, component_stats (validation normals)
    precision: str
    anotrans_version: str
    model_config: dict[str, Any]

    @property
    def threshold(self) -> float:
        return float(self.stats["threshold"])

    @property
    def map_vmax(self) -> float:
        return float(self.stats["map_vmax"])

    def to_props(self) -> dict[str, str]:
        """ONNX ``metadata_props``: plain values as strings, structured ones as JSON."""
        props = {
            "anotrans_format": str(FORMAT_VERSION),
            "input": f"{INPUT_NAME}: float32 [batch, {self.channels}, {self.image_size}, {self.image_size}]",
            "outputs": "raw_score [batch]; map [batch, H, W] (model size); reconstruction [batch, C, H, W]",
            "preprocessing": PREPROCESSING,
            "normalisation": NORMALISATION,
            "threshold": repr(self.threshold),
        }
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            props[field.name] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        return props

    @classmethod
    def from_props(cls, props: dict[str, str], source: str) -> ModelInfo:
        """Parse ``metadata_props``; a file exported by something else fails naming what is missing."""
        found = props.get("anotrans_format")
        if found != str(FORMAT_VERSION):
            raise CheckpointError(
                f"{source}: not an anotrans export (metadata anotrans_format={found!r}, expected "
                f"{FORMAT_VERSION}); export a run with `anotrans export RUN_DIR`"
            )
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name not in props:
                raise CheckpointError(f"{source}: metadata {field.name!r} is missing")
            text = props[field.name]
            values[field.name] = text if field.type == "str" else json.loads(text)
        return cls(**values)

    @classmethod
    def from_run_config(
        cls, saved: dict[str, Any], run_dir: str, score_formula: str, precision: str, version: str
    ) -> ModelInfo:
        """From a finished run's config.json (``normalisation`` is only there once training ended)."""
        if saved.get("normalisation") is None:
            raise CheckpointError(
                f"{run_dir} holds an unfinished run: finish it with `anotrans train --resume {run_dir}`"
            )
        return cls(
            model_name=saved["model"]["name"],
            image_size=int(saved["data"]["image_size"]),
            channels=int(saved["data"]["channels"]),
            score=saved["score"]["score"],
            score_formula=score_formula,
            score_config=saved["score"],
            stats=saved["normalisation"],
            precision=precision,
            anotrans_version=version,
            model_config=saved["model"],
        )
