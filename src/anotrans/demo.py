"""The demo recipe: a small AnoTrans trained on built-in synthetic data in about two CPU minutes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

from anotrans.api import TrainResult, train
from anotrans.data import make_synthetic
from anotrans.training import distributed
from anotrans.utils.files import atomic_write_bytes

# The demo: a small AnoTrans (embed dim 16 instead of 64, two patch merges instead of three, a
# quarter-width discriminator) on the built-in synthetic data, with two training options that are
# not in the paper, each measured over seeds (docs/usage.md, "The demo"; benchmarks/demo_seeds.py):
# masked input (G rebuilds images with noise squares in them, so D learns to reject locally wrong
# texture; without it flat "missing" patches score 0.70, with it 0.94) and a linear lr decay over the last 16
# of 40 epochs (the run ends on settled networks, not mid-oscillation). Its anomaly map is chosen when
# training ends (``anomaly_map="auto"``: the kind with the best pixel AUROC on synthetic anomalies made
# from validation normals; D's feature residual localises flat "missing" patches that the pixel
# residual, which G partly fills in, misses). One D step per G step: with
# the paper's two, this small D wins within 3 epochs and the discriminator score falls back. One
# thread: this small model gains little from a second one, and a fixed thread count makes the demo
# repeat the learning test's result (on the same CPU kernels).
DEMO_OPTIONS: dict[str, Any] = {
    "data": "synthetic",
    "model": "anotrans",
    "model_options": {"embed_dim": 16, "num_merges": 2, "depths": [2, 2, 2], "disc_ndf": 16, "disc_nz": 32},
    "image_size": 32,
    "epochs": 40,
    "lr_decay_share": 0.4,
    "masked_input": 0.25,
    "anomaly_map": "auto",
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
    result = train(out, **{**DEMO_OPTIONS, **overrides})
    if distributed.main_process():
        write_samples(Path(out) / "samples")
    return result


def write_samples(folder: Path) -> None:
    """``DEMO_SAMPLES`` normal and defective synthetic test images, as PNGs written atomically."""
    samples = make_synthetic(2 * DEMO_SAMPLES, DEMO_OPTIONS["image_size"], 3, (10_000, 1), anomaly_ratio=0.5)
    for i, (image, kind) in enumerate(zip(samples.images, samples.kinds, strict=True)):
        png = io.BytesIO()
        Image.fromarray(image).save(png, format="PNG")
        atomic_write_bytes(folder / f"{i:02d}_{kind}.png", png.getvalue())
