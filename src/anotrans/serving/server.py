"""Starting the server: a run directory (torch) or an exported ``.onnx`` file (no torch) on uvicorn."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from anotrans.export.metadata import ModelInfo, is_onnx_file
from anotrans.export.runtime import OnnxDetector
from anotrans.serving.app import Limits, Predictor, create_app

DEFAULT_HOST = "127.0.0.1"  # local only; exposing the server is an explicit choice (--host 0.0.0.0)
DEFAULT_PORT = 8000


def load_model(target: str | Path, device: str = "auto") -> tuple[Predictor, ModelInfo]:
    """The predictor and its description for a run directory or an exported model."""
    if is_onnx_file(target):
        detector = OnnxDetector.load(target)
        return detector, detector.info
    from anotrans.api import load
    from anotrans.export.onnx_export import run_info

    return load(target, device), run_info(target)


def serve(
    target: str | Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    limits: Limits | None = None,
    device: str = "auto",
) -> None:
    """Serve ``target`` until interrupted (one process, one model)."""
    predictor, info = load_model(target, device)
    uvicorn.run(create_app(predictor, info, limits), host=host, port=port, log_level="info")
