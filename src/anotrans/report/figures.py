"""The report's plots as PNG bytes (matplotlib's Agg canvas: no display, no global pyplot state)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 80
LOSS_KEYS = {
    "loss_g_adv": "G adversarial",
    "loss_g_con": "G contextual",
    "loss_g_lat": "G latent",
    "loss_g_enc": "G encoder",
    "loss_d": "D",
}


@contextmanager
def figure(width: float, height: float, ncols: int = 1) -> Iterator[tuple[list[Axes], io.BytesIO]]:
    """A row of ``ncols`` axes whose PNG lands in the yielded buffer when the block ends.

    Fixed margins instead of a layout engine: constrained layout doubled the report's drawing time.
    """
    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.9, wspace=0.3)
    FigureCanvasAgg(fig)
    axes = list(fig.subplots(1, ncols, squeeze=False)[0])
    buf = io.BytesIO()
    yield axes, buf
    fig.savefig(buf, format="png")


def curve_panels(image: dict[str, Any] | None, pixel: dict[str, Any] | None) -> bytes | None:
    """ROC and precision-recall (image level, and pixel level when masks exist), plus the PRO curve."""
    if image is None and pixel is None:
        return None
    panels = 3 if pixel is not None and "pro" in pixel else 2
    with figure(4.0 * panels, 3.6, panels) as (axes, buf):
        for level, curves, style in (("image", image, "-"), ("pixel", pixel, "--")):
            if curves is None:
                continue
            axes[0].plot(curves["roc"]["fpr"], curves["roc"]["tpr"], style, label=level)
            axes[1].plot(curves["pr"]["recall"], curves["pr"]["precision"], style, label=level)
        axes[0].plot([0, 1], [0, 1], ":", color="grey")
        axes[0].set(title="ROC", xlabel="false-positive rate", ylabel="true-positive rate")
        axes[1].set(title="Precision-recall", xlabel="recall", ylabel="precision")
        if panels == 3:
            axes[2].plot(pixel["pro"]["fpr"], pixel["pro"]["pro"], color="C2")
            axes[2].axvline(0.3, color="grey", linestyle=":", label="AUPRO limit (FPR 0.3)")
            axes[2].set(title="Per-region overlap (PRO)", xlabel="false-positive rate", ylabel="PRO")
            axes[2].legend(loc="lower right")
        for ax in axes[:2]:
            ax.legend(loc="lower right")
    return buf.getvalue()


def score_histogram(scores: np.ndarray, labels: np.ndarray, threshold: float) -> bytes:
    """Raw scores of normal and abnormal test images, with the validation-fitted threshold."""
    with figure(6.0, 3.4) as (axes, buf):
        ax = axes[0]
        bins = np.histogram_bin_edges(scores, bins=30)
        for label, name, colour in ((0, "normal", "C0"), (1, "abnormal", "C3")):
            chosen = scores[labels == label]
            if len(chosen):
                ax.hist(chosen, bins=bins, alpha=0.6, color=colour, label=f"{name} ({len(chosen)})")
        ax.axvline(threshold, color="black", linestyle="--", label="threshold")
        ax.set(xlabel="raw score", ylabel="test images")
        ax.legend()
    return buf.getvalue()


def training_curves(epochs: list[dict[str, Any]], score: str) -> bytes | None:
    """Per-epoch losses (paper Fig. 4) and validation metrics, with the test AUROC when it was logged."""
    if not epochs:
        return None
    x = [r["epoch"] for r in epochs]
    with figure(12.0, 3.6, 3) as (axes, buf):
        for key, name in LOSS_KEYS.items():
            if key in epochs[0]:
                axes[0].plot(x, [r.get(key, np.nan) for r in epochs], ".-", label=name)
        axes[0].set(title="Training losses", xlabel="epoch", ylabel="loss (weighted)", yscale="log")
        axes[0].legend(fontsize=8)
        # scalar validation means only (val_synth_auroc is a per-formula table)
        scalars = [k for k, v in epochs[0].items() if k.startswith("val_") and not isinstance(v, dict)]
        for key in sorted(scalars):
            values = np.array([r.get(key, np.nan) for r in epochs], dtype=float)
            span = np.nanmax(values) - np.nanmin(values)
            scaled = (values - np.nanmin(values)) / span if span > 0 else values * 0
            axes[1].plot(x, scaled, ".-", label=key)
        axes[1].set(title="Validation normals (min-max scaled)", xlabel="epoch", ylabel="scaled mean")
        axes[1].legend(fontsize=8)
        auroc = [r.get("test_image_auroc_by_score", {}).get(score) for r in epochs]
        pixel = [r.get("test_pixel_auroc") for r in epochs]
        if any(v is not None for v in auroc + pixel):
            axes[2].plot(x, [np.nan if v is None else v for v in auroc], ".-", label=f"image AUROC ({score})")
            axes[2].plot(x, [np.nan if v is None else v for v in pixel], ".-", label="pixel AUROC")
            axes[2].legend(fontsize=8)
        else:
            axes[2].text(0.5, 0.5, "not logged\n(train with --eval-every-epoch)", ha="center", va="center")
        axes[2].set(title="Test AUROC per epoch (monitoring only)", xlabel="epoch", ylim=(0, 1.02))
    return buf.getvalue()
