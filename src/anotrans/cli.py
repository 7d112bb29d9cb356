"""``anotrans`` command line: train, test, predict, export, serve, demo and models, over :mod:`anotrans.api`.

Options left out are not passed on, so the defaults live in one place (the config dataclasses) and a
``--config`` YAML file can supply any option that the command line does not.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import click

from anotrans import api
from anotrans.allocator import keep_freed_memory
from anotrans.benchmark.command import benchmark_command
from anotrans.cli_deploy import ErrorGroup, export, predict, serve
from anotrans.config import parse_key_values
from anotrans.data.spec import DATA_KINDS, PROTOCOLS, DataSpec
from anotrans.demo import DEMO_OPTIONS
from anotrans.demo import demo as run_demo
from anotrans.detector import Detector, load
from anotrans.errors import ConfigError
from anotrans.networks import list_models, model_description
from anotrans.scoring.maps import AUTO_MAP, MAP_KINDS
from anotrans.scoring.report import SCORES_FILE
from anotrans.scoring.scores import AUTO_SCORE, SCORE_FORMULAS, SCORE_NORMS, ScoreConfig
from anotrans.training.config import DEVICES, EPOCH_SELECTIONS, PRECISIONS, TrainConfig
from anotrans.training.distributed import main_process

_DEFAULTS = {
    f.name: f.default
    for cls in (DataSpec, TrainConfig, ScoreConfig)
    for f in dataclasses.fields(cls)
    if f.default is not dataclasses.MISSING
}

# (flag, destination, click keyword arguments); the destination is an option name of api.train.
_DATA_OPTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("--data", "data", {"type": click.Choice(DATA_KINDS), "help": "Data set kind."}),
    ("--root", "root", {"type": click.Path(), "help": "Folder holding the data set."}),
    ("--category", "category", {"help": "MVTec AD category, e.g. bottle."}),
    ("--abnormal-class", "abnormal_class", {"help": "CIFAR-10/STL-10 class held out as the anomaly."}),
    ("--normal-dir", "normal_dir", {"help": "Folder data: normal images (relative to --root)."}),
    ("--abnormal-dir", "abnormal_dir", {"help": "Folder data: abnormal test images."}),
    ("--mask-dir", "mask_dir", {"help": "Folder data: masks of the abnormal images."}),
    ("--protocol", "protocol", {"type": click.Choice(PROTOCOLS), "help": "Leave-one-class-out protocol."}),
    ("--max-train-images", "max_train_images", {"type": int, "help": "Cap on training images."}),
    ("--max-test-images", "max_test_images", {"type": int, "help": "Seeded, stratified test subsample."}),
    (
        "--test-split",
        "test_split",
        {"type": float, "help": "Folder data: share of normals to test on."},
    ),
    (
        "--max-image-pixels",
        "max_image_pixels",
        {"type": int, "help": "Refuse images whose header claims more pixels (decompression bombs)."},
    ),
    ("--cache-dir", "cache_dir", {"type": click.Path(), "help": "On-disk cache of decoded, resized images."}),
    (
        "--skip-bad-files/--no-skip-bad-files",
        "skip_bad_files",
        {"help": "Warn on, skip bad files."},
    ),
]
_TRAIN_OPTIONS: list[tuple[str, str, dict[str, Any]]] = [
    *_DATA_OPTIONS,
    ("--model", "model", {"help": "Model name (see `anotrans models`)."}),
    ("--image-size", "image_size", {"type": int, "help": "Side of the square model input."}),
    ("--channels", "channels", {"type": click.Choice(["1", "3"]), "help": "1 grey or 3 RGB."}),
    ("--epochs", "epochs", {"type": int, "help": "Training epochs."}),
    ("--batch-size", "batch_size", {"type": int, "help": "Images per update."}),
    ("--val-split", "val_split", {"type": float, "help": "Share of training normals held out."}),
    ("--augment/--no-augment", "augment", {"help": "Training augmentation (default: per data set)."}),
    ("--crop-size", "crop_size", {"type": int, "help": "Patch mode: train on random crops of this side."}),
    ("--tile-stride", "tile_stride", {"type": int, "help": "Patch mode: tile step when scoring (0: half)."}),
    ("--seed", "seed", {"type": int, "help": "Seeds the split, the weights and the updates."}),
    (
        "--score",
        "score",
        {"type": click.Choice([*SCORE_FORMULAS, AUTO_SCORE]), "help": "Anomaly score formula."},
    ),
    ("--score-norm", "score_norm", {"type": click.Choice(SCORE_NORMS), "help": "Mixing norm of `paper`."}),
    ("--lambda", "score_lambda", {"type": float, "help": "Weight of R in the `paper` score (Eq. 9)."}),
    ("--smoothing-sigma", "smoothing_sigma", {"type": float, "help": "Anomaly-map Gaussian sigma (px)."}),
    (
        "--anomaly-map",
        "anomaly_map",
        {"type": click.Choice([*MAP_KINDS, AUTO_MAP]), "help": "Per-pixel map: test, predict, export."},
    ),
    (
        "--threshold-quantile",
        "threshold_quantile",
        {"type": float, "help": "Validation quantile = threshold."},
    ),
    (
        "--pixel-quantile",
        "pixel_quantile",
        {"type": float, "help": "Quantile of validation-normal map pixels = pixel (segmentation) threshold."},
    ),
    ("--lr", "lr", {"type": float, "help": "Adam learning rate (G and D)."}),
    (
        "--lr-decay-epochs",
        "lr_decay_epochs",
        {"type": int, "help": "Lower the learning rate linearly over the last N epochs (0: constant)."},
    ),
    (
        "--lr-decay-share",
        "lr_decay_share",
        {"type": float, "help": "The same over this share of the epochs (--lr-decay-epochs > 0 wins)."},
    ),
    (
        "--g-lr-scale",
        "g_lr_scale",
        {"type": float, "help": "Not in the paper: G's learning rate = --lr times this (D keeps --lr)."},
    ),
    ("--d-steps", "d_steps", {"type": int, "help": "Discriminator updates per generator update."}),
    (
        "--masked-input",
        "masked_input",
        {"type": float, "help": "Not in the paper: chance of each of two noise squares in G's input."},
    ),
    (
        "--foreign-texture",
        "foreign_texture",
        {"type": float, "help": "Not in the paper: chance of another image's texture blob in G's input."},
    ),
    (
        "--rotation-loss",
        "rotation_loss",
        {"type": float, "help": "Not in the paper: weight of D's quarter-turn loss (0: off)."},
    ),
    (
        "--ema-decay",
        "ema_decay",
        {"type": float, "help": "Not in the paper: evaluate a moving average of G's weights (0: off)."},
    ),
    (
        "--freeze-d-stats/--no-freeze-d-stats",
        "freeze_d_stats",
        {"help": "Keep D's BatchNorm running statistics out of the generator step."},
    ),
    ("--w-adv", "w_adv", {"type": float, "help": "Adversarial loss weight."}),
    ("--w-con", "w_con", {"type": float, "help": "Contextual (L1) loss weight."}),
    ("--w-lat", "w_lat", {"type": float, "help": "Latent loss weight."}),
    ("--w-enc", "w_enc", {"type": float, "help": "GANomaly encoder loss weight."}),
    ("--d-reinit-threshold", "d_reinit_threshold", {"type": float, "help": "Re-init D below this loss."}),
    (
        "--max-nonfinite",
        "max_nonfinite",
        {"type": int, "help": "Stop after this many NaN/inf updates in a row."},
    ),
    ("--precision", "precision", {"type": click.Choice(PRECISIONS), "help": "Autocast precision."}),
    ("--deterministic/--no-deterministic", "deterministic", {"help": "Deterministic kernels only."}),
    ("--eval-every-epoch/--no-eval-every-epoch", "eval_every_epoch", {"help": "Log test AUROC per epoch."}),
    (
        "--reference-eval/--no-reference-eval",
        "reference_eval",
        {"help": "Also log the released code's train-mode test AUROC per epoch (comparison only)."},
    ),
    ("--select-epoch", "select_epoch", {"type": click.Choice(EPOCH_SELECTIONS), "help": "Reported epoch."}),
    ("--device", "device", {"type": click.Choice(DEVICES), "help": "Where to train."}),
    ("--workers", "workers", {"type": int, "help": "DataLoader worker processes."}),
    ("--threads", "threads", {"type": int, "help": "torch CPU threads for this run (0: torch's default)."}),
    (
        "--checkpoint-every",
        "checkpoint_every",
        {"type": int, "help": "Also checkpoint every N updates, not only at epoch ends (0: epoch ends)."},
    ),
    ("--progress/--no-progress", "progress", {"help": "Show a progress bar per epoch."}),
    (
        "--sync-bn/--no-sync-bn",
        "sync_bn",
        {"help": "torchrun on CUDA: BatchNorm over the global batch (SyncBatchNorm), as one process."},
    ),
    ("--compile/--no-compile", "compile", {"help": "torch.compile G and D (faster GPU steps)."}),
    (
        "--dist-timeout",
        "dist_timeout",
        {"type": float, "help": "torchrun: seconds to wait for the other processes before failing."},
    ),
]


def _options(table: list[tuple[str, str, dict[str, Any]]]) -> Any:
    """Decorate a command with ``table``'s options, all defaulting to None (= not given)."""

    def decorate(func: Any) -> Any:
        for flag, dest, kwargs in reversed(table):
            help_text = kwargs.get("help", "")
            if _DEFAULTS.get(dest) is not None:
                help_text += f" [default: {_DEFAULTS[dest]}]"
            func = click.option(flag, dest, default=None, **{**kwargs, "help": help_text})(func)
        return func

    return decorate


def _given(options: dict[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in options.items() if v is not None}
    if "channels" in values:
        values["channels"] = int(values["channels"])
    return values


@click.group(cls=ErrorGroup)
@click.version_option(package_name="anotrans")
@click.option("-v", "--verbose", is_flag=True, help="Log every epoch and every skipped update.")
def cli(verbose: bool) -> None:
    """Unsupervised visual anomaly detection with AnoTrans and its GAN baselines."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )


def _print_metrics(metrics: dict[str, Any], run_dir: Path | None = None) -> None:
    keys = (
        "image_auroc",
        "pixel_auroc",
        "aupro",
        "image_ap",
        "image_f1",
        "image_f1_max",
        "threshold",
        "pixel_threshold",
        "image_auroc_max_over_epochs",
    )
    for key in keys:
        if metrics.get(key) is not None:
            click.echo(f"{key}: {metrics[key]:.4f}")
    if "score" in metrics:
        click.echo(f"score: {metrics['score']}; anomaly map: {metrics.get('anomaly_map', 'residual')}")
    for name, value in metrics.get("image_auroc_by_score", {}).items():
        click.echo(f"image_auroc[{name}]: {'n/a' if value is None else f'{value:.4f}'}")
    for kind, result in metrics.get("per_defect", {}).items():
        value = result["image_auroc"]
        shown = "n/a" if value is None else f"{value:.4f}"
        click.echo(f"image_auroc[defect={kind}]: {shown} (n={result['n']})")
    if run_dir is not None:
        click.echo(f"run directory: {run_dir}")


@cli.command()
@_options(_TRAIN_OPTIONS)
@click.option("--model-option", "model_option", multiple=True, help="Model setting KEY=VALUE (repeatable).")
@click.option("--config", "config", type=click.Path(dir_okay=False), help="YAML file of options.")
@click.option("--out", "out", type=click.Path(file_okay=False), help="Run directory to write.")
@click.option("--resume", "resume", type=click.Path(file_okay=False), help="Continue this interrupted run.")
def train(
    model_option: tuple[str, ...], config: str | None, out: str | None, resume: str | None, **options: Any
) -> None:
    """Train a model and write RUN_DIR (checkpoint, config.json, metrics.json, scores.csv, epochs.jsonl)."""
    values = _given(options)
    if model_option:
        values["model_options"] = parse_key_values(model_option, "--model-option")
    if resume and out and Path(out) != Path(resume):
        raise ConfigError(f"--resume {resume} continues that run in place; drop --out {out}")
    out = out or resume
    if out is None:
        raise ConfigError("--out RUN_DIR is required (or --resume RUN_DIR)")
    result = api.train(out, config=config, resume=resume is not None, **values)
    if main_process():  # under torchrun every process holds the same metrics
        _print_metrics(result.metrics, result.run_dir)
        _write_report(result.run_dir)


def _write_report(run_dir: str | Path, results_dir: str | Path | None = None) -> None:
    """Write report.html when the run has test results (a train-only data set has none)."""
    from anotrans.report import write_report  # matplotlib: imported only when drawing

    results = Path(results_dir if results_dir is not None else run_dir)
    if (results / SCORES_FILE).exists():
        click.echo(f"report: {write_report(run_dir, results_dir)}")


_INFERENCE_PRECISION = click.option(
    "--precision",
    type=click.Choice(list(Detector.PRECISIONS)),
    default="fp32",
    show_default=True,
    help="Network precision for scoring; bf16 casts the weights (1.7-2x faster on bf16-capable CPUs).",
)


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@_options(_DATA_OPTIONS)
@click.option(
    "--out", "out", type=click.Path(file_okay=False), help="Also write metrics.json and scores.csv here."
)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@_INFERENCE_PRECISION
@click.option(
    "--save-maps",
    is_flag=True,
    help="Write each test image's raw float map (OUT/maps/NNNNN_name.npy) and overlay PNG at its own size.",
)
def test(run_dir: str, out: str | None, device: str, precision: str, save_maps: bool, **options: Any) -> None:
    """Metrics of a trained run on its own test set, or on any data given with --data/--root.

    With --out, also metrics.json, scores.csv, pixel_curves.json and report.html there."""
    detector = load(run_dir, device, precision)
    given = _given(options)
    base = detector.spec.to_dict()
    if "data" in given:  # another data set: keep only the model's geometry and the seed
        base = {k: base[k] for k in ("image_size", "channels", "seed")}
    spec = DataSpec.from_dict({**base, **given})
    metrics = detector.test(spec, out, save_maps)
    _print_metrics(metrics)
    click.echo(json.dumps({k: metrics[k] for k in ("n_test", "n_test_abnormal", "test_images_per_second")}))
    if out is not None:
        _write_report(run_dir, out)


@cli.command()
@click.option("--out", "out", type=click.Path(file_okay=False), default="runs/demo", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=DEMO_OPTIONS["epochs"], show_default=True)
@click.option("--seed", type=int, default=DEMO_OPTIONS["seed"], show_default=True)
def demo(out: str, epochs: int, seed: int) -> None:
    """Train a small AnoTrans on built-in synthetic data (about 2 CPU minutes) and print its AUROC."""
    result = run_demo(out, epochs=epochs, seed=seed)
    if not main_process():
        return
    _print_metrics(result.metrics, result.run_dir)
    _write_report(result.run_dir)
    click.echo(f"next: anotrans test {out}  |  anotrans predict {out} {out}/samples --out {out}/predictions")


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option(
    "--results",
    type=click.Path(file_okay=False),
    help="Folder of a `test --out` to report on (default: the run's own test results in RUN_DIR).",
)
def report(run_dir: str, results: str | None) -> None:
    """Write RUN_DIR/report.html: metrics, curves, histograms, training, per-defect table, galleries."""
    from anotrans.report import write_report  # matplotlib: imported only when drawing

    click.echo(write_report(run_dir, results))


@cli.command()
def models() -> None:
    """List the registered models."""
    for name in list_models():
        click.echo(f"{name:16s} {model_description(name)}")


cli.add_command(benchmark_command)
for _command in (predict, export, serve):
    cli.add_command(_command)


def main() -> None:
    """Console entry point (``anotrans``)."""
    keep_freed_memory()
    cli(prog_name="anotrans")
