"""The epoch loop: updates, per-epoch validation and logs, resumable state, then the final report.

Reading order: :func:`fit` → ``_run_epoch`` (one pass over the training normals) → ``_end_epoch``
(validation, optional test AUROC, epoch log, resume state) → ``_finish`` (threshold from validation,
test metrics, model and config files). What a resume checkpoint holds: ``training.state``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset
from tqdm import tqdm

from anotrans.data.anomalies import SyntheticValidation
from anotrans.data.loader import make_loader
from anotrans.data.spec import DataSpec, DataSplits
from anotrans.networks.registry import AnomalyGAN
from anotrans.scoring import tiling
from anotrans.scoring.maps import AUTO_MAP, DEFAULT_MAP, MapCollector, available_maps
from anotrans.scoring.metrics import pixel_auroc
from anotrans.scoring.profile import MIN_NORMALS, MapProfile, leave_one_out_scores
from anotrans.scoring.reference import REFERENCE_BATCH_SIZE, reference_protocol_auroc
from anotrans.scoring.report import auroc_by_score, evaluate, mean_components, run_files
from anotrans.scoring.scores import (
    AUTO_SCORE,
    PROFILE_SCORES,
    ScoreConfig,
    Scorer,
    ScoreTable,
    available_scores,
    score_batches,
)
from anotrans.scoring.selection import (
    NormalMaps,
    choose_map,
    choose_score,
    epoch_criterion,
    epoch_update,
    normals_only,
    synthetic_aurocs,
)
from anotrans.training import checkpoint as ckpt
from anotrans.training.config import VAL_SELECTIONS, TrainConfig
from anotrans.training.distributed import Replicas
from anotrans.training.reproducibility import seed_everything
from anotrans.training.runlock import run_lock
from anotrans.training.state import EpochProgress, EpochState, load_state, save_state
from anotrans.training.steps import GanUpdater
from anotrans.utils.devices import resolve_device
from anotrans.utils.files import atomic_write_bytes, write_json

log = logging.getLogger(__name__)

OPTIMISTIC_NOTE = (
    "max over epochs of the test AUROC: selected with test labels, so optimistic; "
    "this is how the paper's and the reference code's numbers were produced"
)
REFERENCE_NOTE = (
    "the released code's measurement: networks in train mode (BatchNorm on each test batch's own "
    "statistics), test set unshuffled normal-then-abnormal, batches of 128, 0.9 R + 0.1 L, max over "
    "epochs; batch composition leaks labels, so this is for comparison with published numbers only"
)


def run_config(
    model: AnomalyGAN, spec: DataSpec, train: TrainConfig, score: ScoreConfig, scorer: Scorer | None = None
) -> dict[str, Any]:
    """config.json: everything that rebuilds and explains the run; ``normalisation`` once training ends."""
    return {
        "format_version": ckpt.CONFIG_FORMAT,
        "model": model.config_dict(),
        "data": spec.to_dict(),
        "training": train.to_dict(),
        "score": score.to_dict(),
        "normalisation": None if scorer is None else scorer.stats,
        "threshold": None if scorer is None else scorer.threshold,
    }


class Trainer:
    """Trains ``model`` on ``splits`` into ``run_dir``; ``fit(resume=True)`` continues an interrupted run."""

    def __init__(
        self,
        model: AnomalyGAN,
        splits: DataSplits,
        spec: DataSpec,
        config: TrainConfig,
        score_config: ScoreConfig,
        run_dir: str | Path,
        replicas: Replicas | None = None,
    ) -> None:
        self.model = model
        self.splits = splits
        self.spec = spec
        self.config = config
        self.score_config = score_config
        self.run_dir = Path(run_dir)
        # Several processes (torchrun): rank 0 alone writes and shows progress (training.distributed).
        self.replicas = replicas or Replicas(resolve_device(config.device))
        self.device = self.replicas.device
        self.model.to(self.device)
        self.updater = GanUpdater(model, config, self.device, self.replicas)
        self.formulas = available_scores(model)
        # validation normals + synthetic-anomaly copies: what every choice is made on (no test labels)
        self.val_set = SyntheticValidation(splits.val, seed=config.seed) if len(splits.val) >= 2 else None
        self.state = EpochState()
        self.progress: EpochProgress | None = None  # set by a resume in the middle of an epoch
        self.tensorboard = None

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train (holding the run directory's lock, so a second process cannot write into it)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # Under torchrun only rank 0 writes into the run directory, so it alone holds the lock.
        with run_lock(self.run_dir) if self.replicas.is_main else contextlib.nullcontext():
            return self._fit(resume)

    def _fit(self, resume: bool) -> dict[str, Any]:
        seed_everything(self.config.seed, self.config.deterministic)
        if resume:
            self._resume()
        if self.replicas.is_main:
            self._start_files(resume)
        threads = torch.get_num_threads()
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        try:
            for epoch in range(self.state.epoch, self.config.epochs):
                self.updater.set_lr(self.config.lr_at(epoch))
                losses = self._run_epoch(epoch)
                self._end_epoch(epoch, losses)
            return self._finish()
        finally:
            torch.set_num_threads(threads)
            if self.tensorboard is not None:
                self.tensorboard.close()

    def _start_files(self, resume: bool) -> None:
        """Rank 0's (or a plain run's) files at the start: config, skipped-file list, TensorBoard."""
        if not resume:  # a fresh run: an older run's checkpoint here must never be resumed into this one
            for stale in (ckpt.CONFIG_FILE, ckpt.STATE_FILE):  # config first: no config, nothing to resume
                (self.run_dir / stale).unlink(missing_ok=True)
            write_json(self.run_dir / ckpt.CONFIG_FILE, self._config())
        if self.splits.info.get("skipped_files"):
            text = "".join(f"{line}\n" for line in self.splits.info["skipped_files"])
            atomic_write_bytes(self.run_dir / ckpt.SKIPPED_FILE, text.encode())
        self.tensorboard = _tensorboard_writer(self.run_dir)

    def _config(self, scorer: Scorer | None = None) -> dict[str, Any]:
        return run_config(self.model, self.spec, self.config, self.score_config, scorer)

    def _resume(self) -> None:
        state_path = self.run_dir / ckpt.STATE_FILE
        if not state_path.exists():
            log.info("no completed epoch in %s: starting from the beginning", self.run_dir)
            return
        self.state, self.progress = load_state(state_path, self.updater)
        done = f" and {self.progress.batches} updates" if self.progress else ""
        log.info("resuming %s after epoch %d%s", self.run_dir, self.state.epoch, done)

    def _run_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
        data = self.splits.train
        batch = min(self.config.batch_size, len(data))
        per_epoch = len(data) // batch
        progress, self.progress = self.progress or EpochProgress(epoch), None
        base_seed = self.config.seed * 100_003
        sampler = self.replicas.train_sampler(data, base_seed)  # None in one process
        if sampler is not None:
            sampler.set_epoch(epoch)
        local = self.replicas.local_batch(batch)
        loader = make_loader(
            data,
            local,
            self.config.workers,
            shuffle=True,
            seed=base_seed + epoch,
            drop_last=True,
            sampler=sampler,
            pin_memory=self.device.type == "cuda",
            # The position is counted in global batches, each rank's share of one being ``local``.
            skip=progress.batches * local,
        )
        start = time.perf_counter() - progress.seconds
        bar = tqdm(
            total=per_epoch * batch,
            initial=progress.images,
            unit="img",
            desc=f"epoch {epoch + 1}/{self.config.epochs}",
            disable=not (self.config.progress and self.replicas.is_main),
            leave=False,
            dynamic_ncols=True,
        )
        with bar:
            for sample in loader:
                x = sample["image"].to(self.device, non_blocking=True)
                result = self.updater.step(x)
                progress.add(result, x.shape[0] * self.replicas.world_size)
                bar.update(x.shape[0] * self.replicas.world_size)
                bar.set_postfix({k: f"{v:.3g}" for k, v in result.losses.items()})
                every, step = self.config.checkpoint_every, epoch * per_epoch + progress.batches
                if every and step % every == 0 and progress.batches < per_epoch and self.replicas.is_main:
                    progress.seconds = time.perf_counter() - start
                    save_state(self.run_dir / ckpt.STATE_FILE, self.updater, self.state, progress)
        seconds = time.perf_counter() - start
        self.state.train_seconds += seconds
        self.state.images_seen += progress.images
        return {
            **progress.record(),
            "lr": self.config.lr_at(epoch),  # D's rate; G's is lr_g (GanUpdater.set_lr)
            "lr_g": self.config.lr_at(epoch) * self.config.g_lr_scale,
            "seconds": seconds,
            "images_per_second": progress.images / max(seconds, 1e-9),
        }

    def _score(
        self,
        dataset: Dataset,
        maps: MapCollector | None = None,
        sigma: float | None = None,
        map_kind: str | None = None,
        profile: MapProfile | None = None,
    ) -> ScoreTable:
        """Scores of ``dataset``: each process scores a shard with rank 0's buffers, gathered in order.

        With ``maps`` (the pixel sample behind pixel metrics) every process scores the whole set, so the
        seeded sample is the one-process sample; this happens only for the final and per-epoch test maps.
        ``sigma`` and ``map_kind`` override the configured smoothing and map (``auto`` tries several);
        ``profile`` adds the ``zmap-topk`` component (the final scoring only).
        """
        self.replicas.broadcast(self.model)
        pin = self.device.type == "cuda"
        sigma = self.score_config.smoothing_sigma if sigma is None else sigma
        stride = self.score_config.tile_stride
        if maps is not None:
            kind = map_kind or self.score_config.anomaly_map
            kind = DEFAULT_MAP if kind == AUTO_MAP else kind  # per-epoch maps before the end-of-run choice
            loader = make_loader(dataset, self.config.batch_size, self.config.workers, pin_memory=pin)
            return score_batches(
                self.model,
                loader,
                sigma,
                self.device,
                tile_stride=stride,
                maps=maps,
                map_kind=kind,
                profile=profile,
            )
        loader = make_loader(
            self.replicas.shard(dataset), self.config.batch_size, self.config.workers, pin_memory=pin
        )
        table = score_batches(self.model, loader, sigma, self.device, tile_stride=stride, profile=profile)
        return self.replicas.gather(table)

    def _validate(
        self, maps: MapCollector | None = None
    ) -> tuple[ScoreTable, dict[str, float | None] | None]:
        """Validation normals' components (and ``maps`` of theirs only) and, when there are two or more,
        every formula's synthetic AUROC."""
        if self.val_set is None:
            plain = self.splits.val if len(self.splits.val) else _plain(self.splits.train)
            return self._score(plain, maps), None
        table = self._score(self.val_set, maps)
        return normals_only(table), synthetic_aurocs(self.score_config, self.formulas, table)

    def _fit_profile(self, val: ScoreTable, normals: NormalMaps) -> MapProfile | None:
        """The validation normals' map profile (None with too few of them), and their ``zmap_topk``
        component computed leave-one-out into ``val`` (the threshold is fitted on it: see profile)."""
        maps = normals.normal_maps
        if len(maps) < MIN_NORMALS:
            return None
        config = self.score_config
        val.components["zmap_topk"] = leave_one_out_scores(maps).numpy()
        return MapProfile.fit(maps, config.anomaly_map, config.smoothing_sigma)

    def _test_maps(self, threshold: float | None = None) -> MapCollector:
        """Test maps, with their masks when the data set has ground truth (pixel metrics)."""
        return MapCollector(self.splits.info.get("has_masks", False), threshold, self.config.seed)

    def _generator_inputs(self) -> Iterator[Tensor]:
        """The training normals as G takes them (no augmentation; patch mode: the scoring tiles)."""
        size = self.model.config.image_size
        stride = self.score_config.tile_stride or max(1, size // 2)
        loader = make_loader(_plain(self.splits.train), self.config.batch_size, self.config.workers)
        for batch in loader:
            x = batch["image"].to(self.device)
            yield tiling.cut(x, size, stride)[0] if x.shape[-1] > size else x

    def _end_epoch(self, epoch: int, record: dict[str, Any]) -> None:
        if self.updater.average is not None:
            self.updater.average.refresh_batch_norm(self._generator_inputs())
        with self.updater.evaluated_weights():  # the averaged G when ema_decay > 0
            record = self._evaluate_epoch(epoch, record)
        self.state.history.append(record)
        self.state.epoch = epoch + 1
        if not self.replicas.is_main:
            return
        log.info("epoch %d: %s", epoch + 1, json.dumps(record))
        if self.tensorboard is not None:
            for key, value in record.items():
                if isinstance(value, (int, float)):
                    self.tensorboard.add_scalar(key, value, epoch + 1)
        atomic_write_bytes(
            self.run_dir / ckpt.EPOCH_LOG, "".join(json.dumps(r) + "\n" for r in self.state.history).encode()
        )
        save_state(self.run_dir / ckpt.STATE_FILE, self.updater, self.state)  # live weights and average

    def _evaluate_epoch(self, epoch: int, record: dict[str, Any]) -> dict[str, Any]:
        """The epoch's log record (validation, optional test AUROC); saves the best epoch's weights."""
        val, synth = self._validate()
        record = {"epoch": epoch + 1, **record, **mean_components(val)}
        if synth is not None:
            record["val_synth_auroc"] = synth
        if self.config.eval_every_epoch and self.splits.test is not None:
            test = self._score(self.splits.test, self._test_maps())
            record["test_image_auroc_by_score"] = auroc_by_score(self.score_config, self.formulas, val, test)
            if test.maps.with_masks:
                record["test_pixel_auroc"] = pixel_auroc(test.maps.sample)
        if self.config.reference_eval and self.splits.test is not None:
            loader = make_loader(self.splits.test, REFERENCE_BATCH_SIZE, self.config.workers)
            record["test_image_auroc_reference_protocol"] = reference_protocol_auroc(
                self.model, loader, self.score_config.smoothing_sigma, self.device
            )
        if self.config.select_epoch in VAL_SELECTIONS:  # a validation split exists (check_validation)
            n_anomalous = sum(self.val_set.labels)
            counts = len(self.val_set) - n_anomalous, n_anomalous
            criterion = epoch_criterion(record, self.score_config.score, *counts)
            selected, self.state.best_val = epoch_update(
                self.config.select_epoch, criterion, self.state.best_val, *counts
            )
            if selected:
                self.state.best_epoch = epoch + 1
                if self.replicas.is_main:
                    ckpt.save_weights(self.run_dir / ckpt.BEST_FILE, self.model)
        return record

    def _finish(self) -> dict[str, Any]:
        if self.updater.average is not None:  # training is over: the averaged G is the model from here
            self.updater.average.load_into_generator()
        if self.config.select_epoch in VAL_SELECTIONS:
            self.replicas.barrier()  # rank 0's last best.safetensors is written
            ckpt.load_weights(self.run_dir / ckpt.BEST_FILE, self.model)
        choice = None
        if self.score_config.score == AUTO_SCORE:
            choice = choose_score(
                self.score_config, self.formulas, lambda s: self._score(self.val_set, sigma=s)
            )
            self.score_config = dataclasses.replace(
                self.score_config, score=choice.score, smoothing_sigma=choice.smoothing_sigma
            )
        map_choice = None
        if self.score_config.anomaly_map == AUTO_MAP:
            seed = self.config.seed
            map_choice = choose_map(
                available_maps(self.model),
                lambda kind: self._score(self.val_set, MapCollector(True, seed=seed), map_kind=kind),
            )
            self.score_config = dataclasses.replace(self.score_config, anomaly_map=map_choice.anomaly_map)
        normals = NormalMaps(False, seed=self.config.seed)
        val, synth = self._validate(normals)
        profile = self._fit_profile(val, normals)
        scorer = Scorer(self.score_config).fit(val.components, val.maps.sample)
        metrics: dict[str, Any] = {
            "epochs": self.state.epoch,
            "selected_epoch": self.state.best_epoch
            if self.config.select_epoch in VAL_SELECTIONS
            else self.state.epoch,
            "selection": _selection_note(
                self.config.select_epoch, choice, self.val_set is not None, self.score_config.score
            ),
            "val_synth_auroc": synth,
            "score_choice": None if choice is None else dataclasses.asdict(choice),
            "map_choice": None if map_choice is None else dataclasses.asdict(map_choice),
            "n_train": len(self.splits.train),
            "n_val": len(val),
            "num_skipped_files": len(self.splits.info.get("skipped_files", [])),
            "threshold": scorer.threshold,
            "train_seconds": self.state.train_seconds,
            "train_images_per_second": self.state.images_seen / max(self.state.train_seconds, 1e-9),
        }
        if self.splits.test is not None:
            start = time.perf_counter()
            test = self._score(self.splits.test, self._test_maps(scorer.pixel_threshold), profile=profile)
            seconds = time.perf_counter() - start
            metrics.update(
                evaluate(scorer, available_scores(self.model, profile), val, test),
                test_seconds=seconds,
                test_images_per_second=len(test) / max(seconds, 1e-9),
            )
            if self.replicas.is_main:
                for name, data in run_files(scorer, test).items():
                    atomic_write_bytes(self.run_dir / name, data)
        per_epoch = [
            r["test_image_auroc_by_score"][scorer.config.score]
            for r in self.state.history
            if r.get("test_image_auroc_by_score", {}).get(scorer.config.score) is not None
        ]
        if per_epoch:
            metrics["image_auroc_max_over_epochs"] = max(per_epoch)
            metrics["image_auroc_max_over_epochs_note"] = OPTIMISTIC_NOTE
        reference = [
            r["test_image_auroc_reference_protocol"]
            for r in self.state.history
            if r.get("test_image_auroc_reference_protocol") is not None
        ]
        if reference:
            metrics["image_auroc_reference_protocol_max_over_epochs"] = max(reference)
            metrics["image_auroc_reference_protocol_note"] = REFERENCE_NOTE
        if self.tensorboard is not None:
            for key in ("image_auroc", "pixel_auroc", "aupro"):
                if metrics.get(key) is not None:
                    self.tensorboard.add_scalar(f"test/{key}", metrics[key], self.state.epoch)
        if self.replicas.is_main:
            ckpt.save_weights(self.run_dir / ckpt.MODEL_FILE, self.model)
            if profile is not None:
                profile.save(self.run_dir)
            write_json(self.run_dir / ckpt.METRICS_FILE, metrics)
            write_json(self.run_dir / ckpt.CONFIG_FILE, self._config(scorer))
        return metrics


def _plain(dataset: Dataset) -> Dataset:
    """The training normals without augmentation or cropping (the threshold's fallback at --val-split 0)."""
    plain = copy.copy(dataset)
    plain.augment, plain.crop_size = False, 0
    return plain


def _selection_note(select_epoch: str, choice: Any, has_val: bool, score: str) -> str:
    """How this run's epoch, score and threshold were chosen, in words (metrics.json)."""
    if not has_val:
        return (
            "no validation split (--val-split 0, the paper's protocol): last epoch, the configured score; "
            "normalisation and threshold fitted on the training normals, so the threshold is optimistic"
        )
    epoch = {
        "val": "epoch with the best synthetic-validation AUROC",
        "val-1se": "latest epoch within one standard error of the best synthetic-validation AUROC",
    }.get(select_epoch, "last epoch")
    if choice is not None:
        how = (
            "`mix` at the configured smoothing unless another score or smoothing beats it on synthetic "
            "validation by more than one standard error"
        )
    elif score in PROFILE_SCORES:
        how = (
            f"the configured score `{score}` (epochs compared as under --score auto; its map profile fitted "
            "on the validation normals, whose own scores are taken leave-one-out)"
        )
    else:
        how = "configured score"
    return f"{epoch}; {how}; threshold from validation normals; no test labels used"


def _tensorboard_writer(run_dir: Path) -> Any:
    """A SummaryWriter under ``run_dir/tensorboard`` when tensorboard is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))
