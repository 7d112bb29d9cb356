"""``anotrans serve``: one model behind ``POST /predict``, ``GET /health`` and ``GET /model``.

Every request is bounded before work is done for it: the body size (read in chunks and stopped at the
limit, 413), the number of images (413), each image's pixel count from its header before decoding
(413, so a decompression bomb costs nothing), the format (415 not an image, 422 corrupt), and the
time a request may wait and run (503). Images come only from the uploaded bytes: no client-sent path
or URL is ever opened. One model serves every request; a lock runs them one at a time (the networks
already use every core), so concurrent clients are safe. Errors answer JSON ``{"detail": ...}``; an
unexpected one answers 500 with a fixed message, never a traceback.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import logging
import threading
from collections.abc import AsyncGenerator
from typing import Any, Protocol

import numpy as np
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from PIL import Image
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from anotrans.data.images import CorruptImageError, ImageTooLargeError, NotAnImageError, open_image
from anotrans.errors import DataError
from anotrans.export.metadata import ModelInfo
from anotrans.scoring.predictions import Prediction

log = logging.getLogger(__name__)
MiB = 1 << 20


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one request may cost; each limit answers a clear HTTP error when crossed."""

    max_body_bytes: int = 32 * MiB
    max_images: int = 64
    max_pixels: int = 4096 * 4096
    timeout_s: float = 60.0


class Predictor(Protocol):
    """What the server needs of a model: :class:`anotrans.api.Detector` or the ONNX runtime's."""

    def predict(self, images: Any, keep_images: bool = False) -> Prediction: ...


class RequestError(Exception):
    """A bad request, answered with ``status`` and ``detail`` (the reason, naming the file)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


_STATUS = {ImageTooLargeError: 413, NotAnImageError: 415, CorruptImageError: 422}


def decode(name: str, data: bytes, max_pixels: int) -> Image.Image:
    """An uploaded file as a decoded image, or the RequestError its problem deserves."""
    stream = io.BytesIO(data)
    stream.name = name  # only names the file in error messages; nothing is opened by this name
    try:
        return open_image(stream, max_pixels)
    except DataError as exc:
        raise RequestError(_STATUS.get(type(exc), 422), str(exc)) from None


def map_png(values: np.ndarray, vmax: float) -> str:
    """An anomaly map as a base64 8-bit greyscale PNG on the model's fixed scale (255 = ``vmax``)."""
    scaled = np.clip(values / max(vmax, 1e-12), 0.0, 1.0) * 255.0
    buf = io.BytesIO()
    Image.fromarray(np.rint(scaled).astype(np.uint8), mode="L").save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 from its Content-Length or as soon as it grows past ``limit``."""
    declared = request.headers.get("content-length")
    too_big = f"request body over the {limit} byte limit"
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, too_big)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, too_big)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_uploads(request: Request, limits: Limits) -> list[tuple[str, bytes]]:
    """The uploaded files of a multipart body (any field name), at most ``limits.max_images``."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise RequestError(415, "send the images as multipart/form-data (e.g. curl -F file=@image.png)")
    body = await read_body(request, limits.max_body_bytes)

    async def replay() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(request.headers, replay(), max_files=limits.max_images, max_fields=16)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        too_many = "Too many files" in exc.message
        detail = f"at most {limits.max_images} images per request" if too_many else exc.message
        raise RequestError(413 if too_many else 400, detail) from None
    files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
    if not files:
        raise RequestError(422, "no image file in the request (multipart file fields)")
    return [(file.filename or f"#{i}", await file.read()) for i, file in enumerate(files)]


def create_app(predictor: Predictor, info: ModelInfo, limits: Limits | None = None) -> FastAPI:
    """The FastAPI application serving ``predictor``, described by ``info`` (``GET /model``)."""
    limits = limits or Limits()
    app = FastAPI(title="anotrans", description="Visual anomaly detection", version=info.anotrans_version)
    lock = threading.Lock()
    # the metadata of the export, with typed values instead of the strings ONNX stores
    description = {
        **info.to_props(),
        **dataclasses.asdict(info),
        "threshold": info.threshold,
        "limits": dataclasses.asdict(limits),
    }

    def predict(uploads: list[tuple[str, bytes]], maps: bool) -> list[dict[str, Any]]:
        images = [decode(name, data, limits.max_pixels) for name, data in uploads]
        with lock:
            pred = predictor.predict(images)
        threshold = info.threshold
        results = []
        for i, (name, _) in enumerate(uploads):
            result = {
                "name": name,
                "score": float(pred.scores[i]),
                "label": "abnormal" if pred.labels[i] else "normal",
                "raw_score": float(pred.raw_scores[i]),
                "threshold": threshold,
            }
            if maps:
                result["map_png"] = map_png(pred.maps[i], info.map_vmax)
            results.append(result)
        return results

    @app.exception_handler(RequestError)
    async def request_error(_: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error while serving a request: %r", exc)
        return JSONResponse({"detail": "internal error while scoring; see the server log"}, status_code=500)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/model")
    async def model() -> dict[str, Any]:
        return description

    @app.post("/predict")
    async def predict_route(request: Request, maps: bool = False) -> dict[str, Any]:
        """Score every uploaded image: ``{"results": [{name, score, label, raw_score, threshold}]}``."""
        uploads = await read_uploads(request, limits)
        try:
            results = await asyncio.wait_for(run_in_threadpool(predict, uploads, maps), limits.timeout_s)
        except asyncio.TimeoutError:
            raise RequestError(503, f"the request took over {limits.timeout_s:g} s; retry later") from None
        return {"results": results}

    return app
