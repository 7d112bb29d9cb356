"""``anotrans serve``: the real server (uvicorn in a subprocess on 127.0.0.1) answering good and bad requests.

Also the time limit and the 500 handler, in-process with a stand-in predictor."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image

from anotrans.export.runtime import load_onnx
from anotrans.serving.app import Limits, create_app

MAX_IMAGES = 4
MAX_PIXELS = 1000 * 1000


def _png(size=(40, 30), seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A valid-looking PNG of a few bytes whose header claims ``width`` x ``height`` RGB pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(exported_run):
    """(base URL, model path) of a server running the tiny GANomaly export with small limits."""
    _, onnx_path = exported_run("ganomaly")
    port = _free_port()
    args = ["serve", str(onnx_path), "--port", str(port), "--max-images", str(MAX_IMAGES)]
    args += ["--max-upload-mb", "1", "--max-pixels", str(MAX_PIXELS)]
    process = subprocess.Popen(
        [sys.executable, "-c", "from anotrans.console import main; main()", *args],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited: {process.stderr.read()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("the server did not start within 120 s")
                time.sleep(0.2)
        yield url, onnx_path
    finally:
        process.terminate()
        process.wait(timeout=30)


def _post(url, files, params=None):
    return httpx.post(f"{url}/predict", files=files, params=params, timeout=60)


def test_health_and_model_metadata(server):
    url, onnx_path = server
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    info = httpx.get(f"{url}/model").json()
    assert (info["model_name"], info["image_size"], info["channels"]) == ("ganomaly", 16, 3)
    assert info["threshold"] == load_onnx(onnx_path).threshold and info["limits"]["max_images"] == MAX_IMAGES


def test_a_good_image_and_a_batch_score_like_the_predictor(server):
    url, onnx_path = server
    images = [_png(seed=i) for i in range(3)]
    single = _post(url, [("file", ("one.png", images[0], "image/png"))], {"maps": "true"})
    assert single.status_code == 200
    (result,) = single.json()["results"]
    expected = load_onnx(onnx_path).predict([Image.open(io.BytesIO(data)) for data in images])
    assert result["name"] == "one.png" and 0.0 <= result["score"] <= 1.0
    assert result["score"] == pytest.approx(expected.scores[0], abs=1e-6)
    assert result["raw_score"] == pytest.approx(expected.raw_scores[0], abs=1e-6)
    assert result["label"] == ("abnormal" if expected.labels[0] else "normal")
    heat = Image.open(io.BytesIO(base64.b64decode(result["map_png"])))
    assert (heat.size, heat.mode) == ((16, 16), "L")

    batch = _post(url, [("files", (f"{i}.png", data, "image/png")) for i, data in enumerate(images)])
    assert batch.status_code == 200
    results = batch.json()["results"]
    assert [r["name"] for r in results] == ["0.png", "1.png", "2.png"] and "map_png" not in results[0]
    np.testing.assert_allclose([r["score"] for r in results], expected.scores, atol=1e-6)


def test_concurrent_clients_get_consistent_answers(server):
    url, _ = server
    data = _png(seed=5)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _post(url, [("file", ("x.png", data, "image/png"))]), range(16)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["results"][0]["raw_score"] for a in answers}) == 1


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("files", "status", "words"),
    [
        ([("file", ("big.png", b"\0" * (1 << 20 + 1), "image/png"))], 413, "byte limit"),
        ([("file", ("bomb.png", _bomb_png(20000, 20000), "image/png"))], 413, "bomb.png"),
        (
            [("file", ("wide.png", _bomb_png(2000, 2000), "image/png"))],
            413,
            "2000x2000 = 4000000 pixels is over the cap of 1000000",
        ),
        ([("file", ("notes.txt", b"just some text", "text/plain"))], 415, "notes.txt: not an image"),
        ([("file", ("cut.jpg", _jpeg()[:300], "image/jpeg"))], 422, "cut.jpg: truncated or corrupt"),
        ([("f", (f"{i}.png", _png(), "image/png")) for i in range(MAX_IMAGES + 1)], 413, "at most 4 images"),
    ],
    ids=["oversized-upload", "bomb-png", "too-many-pixels", "text-file", "truncated-jpeg", "too-many-images"],
)
def test_bad_requests_get_their_status_and_reason(server, files, status, words):
    url, _ = server
    answer = _post(url, files)
    assert answer.status_code == status
    assert words in answer.json()["detail"]


def test_requests_without_multipart_images_are_refused(server):
    url, _ = server
    assert httpx.post(f"{url}/predict", json={"path": "/etc/passwd"}).status_code == 415
    answer = httpx.post(f"{url}/predict", data={"url": "http://example.com/x.png"})
    assert answer.status_code == 415  # form fields without files are never fetched or opened
    empty = httpx.post(
        f"{url}/predict",
        files=[],
        data={"note": "x"},
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert empty.status_code in (400, 422)
    assert httpx.get(f"{url}/nowhere").json() == {"detail": "Not Found"}


class _SlowOrBroken:
    """A stand-in predictor: sleeps past the time limit, or fails unexpectedly."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def predict(self, images, keep_images=False):
        if self.fail:
            raise RuntimeError("secret internal state")
        time.sleep(2)


@pytest.mark.parametrize(
    ("fail", "status", "words"), [(False, 503, "took over 0.2 s"), (True, 500, "internal error")]
)
def test_time_limit_and_unexpected_errors_answer_without_a_traceback(exported_run, fail, status, words):
    info = load_onnx(exported_run("ganomaly")[1]).info
    app = create_app(_SlowOrBroken(fail), info, Limits(timeout_s=0.2))

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/predict", files=[("file", ("x.png", _png(), "image/png"))])

    answer = asyncio.run(post())
    assert answer.status_code == status and words in answer.json()["detail"]
    assert "Traceback" not in answer.text and "secret" not in answer.text
