"""Deployment commands (``export``, ``predict``, ``serve``) and the CLI's error handling, without torch.

``anotrans predict|serve MODEL.onnx ...`` run these commands on onnxruntime, numpy and Pillow alone
(:mod:`anotrans.console` picks that path); every other command, and these two on a run directory, go
through :mod:`anotrans.cli`, which imports torch. This module imports only torch-free modules at the
top, so both paths share its commands and one error handling (``error: ...`` lines, crash logs).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

import click

from anotrans.errors import AnotransError, ConfigError
from anotrans.export.metadata import DEFAULT_OPSET, EXPORT_PRECISIONS
from anotrans.training.config import DEVICES, PRECISIONS


class UserError(click.ClickException):
    """An AnotransError shown as ``error: ...`` with exit code 2 and no traceback."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class InternalError(click.ClickException):
    """An unexpected exception: one line on the terminal, the full traceback in a crash log file."""

    exit_code = 1

    def __init__(self, exc: BaseException) -> None:
        fd, path = tempfile.mkstemp(prefix="anotrans-crash-", suffix=".log")
        with os.fdopen(fd, "w") as f:
            f.write(f"anotrans {' '.join(sys.argv[1:])}\n\n")
            f.write("".join(traceback.format_exception(exc)))
        super().__init__(
            f"internal error ({type(exc).__name__}: {exc}); the full traceback is in {path} "
            "(please attach it to a bug report)"
        )

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class ErrorGroup(click.Group):
    """Bad input becomes :class:`UserError`, anything unexpected :class:`InternalError`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AnotransError as exc:
            raise UserError(str(exc)) from exc
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except OSError as exc:
            if exc.filename is None:
                raise InternalError(exc) from exc
            raise UserError(f"{exc.filename}: {exc.strerror or exc}") from exc  # permissions, folders
        except Exception as exc:
            raise InternalError(exc) from exc


_DEVICE = click.option(
    "--device", type=click.Choice(DEVICES), default="auto", show_default=True, help="Run directory only."
)


def _precision(choices: tuple[str, ...], help_text: str) -> Any:
    return click.option(
        "--precision", type=click.Choice(choices), default="fp32", show_default=True, help=help_text
    )


@click.command()
@click.argument("model")
@click.argument("images", nargs=-1, required=True)
@click.option(
    "--out", "out", type=click.Path(file_okay=False), help="Write predictions.csv and heat maps here."
)
@_DEVICE
@_precision(PRECISIONS, "Run directory only: bf16 casts the weights (1.7-2x faster on bf16-capable CPUs).")
@click.option(
    "--save-maps",
    is_flag=True,
    help="Run directory only: also write each image's raw float map (OUT/maps/NNNNN_name.npy) and overlay "
    "PNG at its own size.",
)
def predict(
    model: str, images: tuple[str, ...], out: str | None, device: str, precision: str, save_maps: bool
) -> None:
    """Score images or folders with MODEL, a run directory or an exported .onnx file (then without torch).

    Prints a CSV of path, score (0.5 = threshold), raw score, label, pixel threshold and anomalous area
    (the share of the map above the pixel threshold).
    """
    import anotrans
    from anotrans.scoring.predictions import PredictionWriter

    if save_maps and out is None:
        raise UserError("--save-maps needs --out, the folder to write the maps to")
    detector = anotrans.load(model, device, precision)
    if save_maps and not hasattr(detector, "write_maps"):
        raise UserError("--save-maps needs a run directory; an .onnx model writes heat maps with --out only")
    writer = PredictionWriter(out, detector.map_vmax, detector.pixel_threshold)
    for part in detector.iter_predict(list(images), keep_images=writer.needs_images):
        if save_maps:
            for i, path in enumerate(part.paths):
                detector.write_maps(
                    Path(out) / "maps", len(writer.rows) - 1 + i, path, part.images[i], part.maps[i]
                )
        writer.add(part)
    click.echo(writer.finish(), nl=False)


@click.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option(
    "--out", type=click.Path(dir_okay=False), help="ONNX file to write [default: RUN_DIR/model.onnx]."
)
@click.option("--opset", type=int, default=DEFAULT_OPSET, show_default=True, help="ONNX opset version.")
@_precision(EXPORT_PRECISIONS, "fp16 halves the networks' weights (for GPU runtimes; outputs stay fp32).")
def export(run_dir: str, out: str | None, opset: int, precision: str) -> None:
    """Export a finished run as one ONNX graph (images -> raw score, map, reconstruction) + metadata."""
    from anotrans.export.onnx_export import export_run

    result = export_run(run_dir, out, opset, precision)
    click.echo(f"wrote {result.path} ({result.info.model_name}, {precision}, opset {opset})")
    diffs = ", ".join(f"{name} {value:.2g}" for name, value in result.differences.items())
    click.echo(f"onnxruntime vs torch on {result.check_images} random images, max |difference|: {diffs}")


@click.command()
@click.argument("model")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface to listen on (local by default)."
)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@_DEVICE
@click.option("--max-images", type=click.IntRange(min=1), default=64, show_default=True, help="Per request.")
@click.option("--max-upload-mb", type=click.FloatRange(min=0.01), default=32.0, show_default=True)
@click.option(
    "--max-pixels", type=click.IntRange(min=1), default=4096 * 4096, show_default=True, help="Per image."
)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True, help="Seconds.")
def serve(
    model: str,
    host: str,
    port: int,
    device: str,
    max_images: int,
    max_upload_mb: float,
    max_pixels: int,
    timeout: float,
) -> None:
    """Serve MODEL (a run directory or an .onnx file) over HTTP: POST /predict, GET /health, GET /model."""
    missing = [name for name in ("fastapi", "uvicorn", "multipart") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"serve needs {', '.join(missing)}: pip install 'anotrans[serve]'")
    from anotrans.serving.app import Limits
    from anotrans.serving.server import serve as run_server

    limits = Limits(int(max_upload_mb * (1 << 20)), max_images, max_pixels, timeout)
    run_server(model, host, port, limits, device)
