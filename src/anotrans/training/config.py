"""The training options as one typed, JSON-ready record, written into every run's config.json."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from anotrans.errors import ConfigError
from anotrans.utils.sections import Section

PRECISIONS = ("fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda")
EPOCH_SELECTIONS = ("last", "val", "val-1se")
VAL_SELECTIONS = ("val", "val-1se")  # the rules that read the synthetic validation set


@dataclasses.dataclass
class TrainConfig(Section):
    """Optimiser, schedule and loss settings; the defaults follow the paper (sec. 2.5, 3.2).

    ``lr_decay_epochs``: over the last N epochs both learning rates fall linearly (epoch e of E runs at
    ``lr * min(1, (E - e) / (N + 1))``), as pix2pix does, so a run ends on settled networks instead of
    wherever the adversarial oscillation happens to stand; 0 (the paper) keeps the rate constant.
    ``lr_decay_share``: the same fall over this share of the epochs (rounded), so that a preset's schedule
    keeps its proportion at any ``epochs``; an ``lr_decay_epochs`` above 0 wins over it.
    ``g_lr_scale``: not in the paper; G's learning rate is ``lr`` times this, D's stays ``lr`` (two
    time-scale updates, Heusel et al. 2017): AnoTrans's Swin generator learns to rebuild images far more
    slowly than a conv U-Net at the paper's rate (held-out bottle L1 after 60 G-only updates: 0.199 at
    1x, 0.091 at 6x; benchmarks/quality.py). 1 (the paper) is one rate for both.
    ``masked_input``: not in the paper; with this probability per square, G sees each training image
    with up to two noise squares in it and must still rebuild the clean image (training.corruption);
    0 (the paper) shows G the image itself.
    ``foreign_texture``: not in the paper; with this probability, G sees each training image with one
    irregular blob of another image's texture (turned, shifted, recoloured) pasted in and must still
    rebuild the clean image (training.corruption); applied after ``masked_input``; 0 (the paper) is off.
    ``ema_decay``: not in the paper; when > 0, every evaluation (validation, epoch selection, test, the
    saved model) uses an exponential moving average of G's weights with this decay per update
    (training.ema) instead of the live G; 0 (the paper) evaluates the live G.
    ``rotation_loss``: not in the paper; when > 0, D also gets a quarter-turn head and, with this weight,
    the cross-entropy of telling which quarter turn each real image was given (SS-GAN's auxiliary
    rotation loss); it enables the ``rotation`` score (class-level novelty). 0 (the paper) is off.
    ``freeze_d_stats``: during the generator step D's BatchNorm layers still normalise by batch
    statistics but stop updating their running statistics, so the running statistics (what eval-mode
    scoring uses) come from D's own updates only, not from the G step's extra fake-only and real-only
    passes; off (the paper and released code) lets every pass move them.
    ``d_steps`` = 2 is the paper's "discriminator twice per generator step" (the released code does 1).
    ``d_reinit_threshold``: D is re-initialised (weights and Adam state) when its loss falls below this,
    as skip-ganomaly does, so a collapsed D cannot starve G of gradient; 0 turns it off.
    ``max_nonfinite``: training stops after this many consecutive updates with a non-finite loss.
    ``select_epoch``: "last" reports the final model; "val" the epoch with the best image AUROC on the
    synthetic validation set (validation normals and their synthetic-anomaly copies; never test labels;
    anotrans.scoring.selection), for the configured score or, with ``--score auto``, the formula the
    selection rule takes (``mix`` unless clearly beaten); "val-1se" the latest epoch whose AUROC is
    within one standard error of that best (scoring.selection.epoch_update).
    ``threads``: torch intra-op CPU threads while training (0 keeps torch's default, one per core). A
    GAN's trajectory depends on the float summation order, which the thread count changes, so fixing it
    makes a CPU run repeat exactly (on the same CPU kernels).
    ``sync_bn``: with several processes on CUDA (torchrun), every BatchNorm normalises over the global
    batch, as one process does (training.distributed); off, each process normalises its own share.
    ``compile``: ``torch.compile`` G and D (a first-step compile delay, then faster steps on GPU).
    ``dist_timeout``: seconds a process waits for the others before the job ends with an error.
    ``checkpoint_every``: also write the resume checkpoint after every N-th update (0: at epoch ends
    only), so a kill loses at most N updates; see ``training.state`` for what it holds.
    ``reference_eval``: also measure, after every epoch, the test AUROC the released code would report
    (train-mode networks, unshuffled test set, batches of 128, 0.9 R + 0.1 L); for comparison only.
    """

    SECTION: ClassVar[str] = "training"

    model: str = "anotrans"
    model_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    epochs: int = 25
    batch_size: int = 64
    lr: float = 2e-4
    lr_decay_epochs: int = 0
    lr_decay_share: float = 0.0
    g_lr_scale: float = 1.0
    beta1: float = 0.5
    beta2: float = 0.999
    d_steps: int = 2
    masked_input: float = 0.0
    foreign_texture: float = 0.0
    ema_decay: float = 0.0
    rotation_loss: float = 0.0
    freeze_d_stats: bool = False
    w_adv: float = 1.0
    w_con: float = 50.0
    w_lat: float = 1.0
    w_enc: float = 1.0
    d_reinit_threshold: float = 1e-5
    max_nonfinite: int = 10
    precision: str = "fp32"
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    workers: int = 0
    threads: int = 0
    checkpoint_every: int = 0
    eval_every_epoch: bool = False
    reference_eval: bool = False
    select_epoch: str = "last"
    progress: bool = True
    sync_bn: bool = True
    compile: bool = False
    dist_timeout: float = 300.0

    def __post_init__(self) -> None:
        for name, allowed in (
            ("precision", PRECISIONS),
            ("device", DEVICES),
            ("select_epoch", EPOCH_SELECTIONS),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}, "
                    f"got {getattr(self, name)!r}"
                )
        for name in ("epochs", "batch_size", "d_steps", "max_nonfinite"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.lr_decay_epochs <= self.epochs:
            raise ConfigError(
                f"--lr-decay-epochs must be between 0 and --epochs ({self.epochs}), "
                f"got {self.lr_decay_epochs}"
            )
        if not 0.0 <= self.lr_decay_share <= 1.0:
            raise ConfigError(
                f"--lr-decay-share must be a share of the epochs in [0, 1], got {self.lr_decay_share}"
            )
        probabilities = {"--masked-input": self.masked_input, "--foreign-texture": self.foreign_texture}
        for option, value in probabilities.items():
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{option} must be a probability in [0, 1], got {value}")
        if self.rotation_loss < 0:
            raise ConfigError(f"--rotation-loss must be >= 0 (0: off), got {self.rotation_loss}")
        if "rotation_head" in self.model_options:
            raise ConfigError(
                "--model-option rotation_head is not set by hand: --rotation-loss W (W > 0) adds the head "
                "and trains it"
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"--ema-decay must be in [0, 1) (0: off), got {self.ema_decay}")
        if self.dist_timeout <= 0:
            raise ConfigError(f"--dist-timeout must be > 0 seconds, got {self.dist_timeout}")
        if self.lr <= 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr}")
        if self.g_lr_scale <= 0:
            raise ConfigError(f"--g-lr-scale must be > 0 (1: G at --lr), got {self.g_lr_scale}")
        for name in ("workers", "threads", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"--{name} must be >= 0, got {getattr(self, name)}")

    def network_options(self) -> dict[str, Any]:
        """What the model is built with: ``--model-option`` values plus the heads the losses need."""
        return {**self.model_options, **({"rotation_head": True} if self.rotation_loss else {})}

    @property
    def decay_epochs(self) -> int:
        """The last epochs over which the learning rates fall: ``lr_decay_epochs``, else the share's."""
        return self.lr_decay_epochs or round(self.lr_decay_share * self.epochs)

    def lr_at(self, epoch: int) -> float:
        """The learning rate of (0-based) ``epoch``: a pure function of it, so a resumed run agrees."""
        return self.lr * min(1.0, (self.epochs - epoch) / (self.decay_epochs + 1))
