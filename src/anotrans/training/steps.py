"""One training update on one batch, per model family, apart from the epoch loop.

Order and evaluation counts per batch (``d_steps`` = k):
  1. G runs once: ``fake = G(x)`` (with ``masked_input`` or ``foreign_texture``, G sees x with noise
     squares or another image's texture in it and the losses still compare against the clean x).
  2. k discriminator updates on (x, fake.detach()) (with ``rotation_loss``, also on x's quarter turns).
     Reusing the same fakes is exact, because G does not change until step 3; D is re-run each time
     because D does change. ``detach`` keeps D's loss out of G.
  3. One generator update: D(fake) with D's parameters frozen (so G's backward leaves D's .grad
     untouched) and D(x) under no_grad as the latent target (a detached constant, as it must be: D
     is not trained by G's loss, unlike the released code where D also minimised the latent term).
So per batch: 1 G forward and 2k + 2 D forwards. D first follows the paper: "a relatively strong
discriminator first". A non-finite loss skips that update (no optimiser step) and is counted.
Under torchrun G and D run through DDP and every decision (skip, D re-init) and logged loss uses the
loss averaged over the processes (training.distributed), so N processes take one process's steps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from anotrans.errors import AnotransError
from anotrans.networks.calling import Generated, discriminate, has_latent_encoder
from anotrans.networks.discriminator import quarter_turns
from anotrans.networks.init import dcgan_init_
from anotrans.training import losses
from anotrans.training.config import TrainConfig
from anotrans.training.corruption import foreign_texture, noise_patches
from anotrans.training.distributed import Replicas
from anotrans.training.ema import GeneratorAverage

log = logging.getLogger(__name__)


class NonFiniteLossError(AnotransError):
    """Training kept producing NaN/inf losses, so continuing would only waste time."""


class GeneratorObjective:
    """Eq. 8 for the skip-connected family (AnoTrans, Skip-GANomaly, SAGAN): adv + con + lat."""

    def terms(
        self,
        x: Tensor,
        gen: Generated,
        fake_logits: Tensor,
        fake_feats: Tensor,
        real_feats: Tensor,
        weights: losses.LossWeights,
    ) -> dict[str, Tensor]:
        return {
            "g_adv": weights.adv * losses.generator_adversarial_loss(fake_logits),
            "g_con": weights.con * losses.contextual_loss(x, gen.recon),
            "g_lat": weights.lat * losses.latent_loss(real_feats, fake_feats),
        }


class GanomalyObjective(GeneratorObjective):
    """GANomaly: adversarial feature matching on D's features, contextual L1, encoder L2 on (z, z_hat)."""

    def terms(
        self,
        x: Tensor,
        gen: Generated,
        fake_logits: Tensor,
        fake_feats: Tensor,
        real_feats: Tensor,
        weights: losses.LossWeights,
    ) -> dict[str, Tensor]:
        return {
            "g_adv": weights.adv * losses.latent_loss(real_feats, fake_feats),
            "g_con": weights.con * losses.contextual_loss(x, gen.recon),
            "g_enc": weights.enc * losses.latent_loss(gen.z, gen.z_hat),
        }


def objective_for(model: nn.Module) -> GeneratorObjective:
    """GANomaly-style generators (a second encoder) have their own; every other family uses Eq. 8."""
    return GanomalyObjective() if has_latent_encoder(model.generator) else GeneratorObjective()


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters of ``module`` stop requiring grad, so a backward pass through it writes no .grad."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@contextlib.contextmanager
def frozen_bn_stats(module: nn.Module) -> Iterator[None]:
    """BatchNorm layers of ``module`` keep normalising by batch statistics but stop updating running ones."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch
    try:
        yield
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum


@dataclasses.dataclass
class StepResult:
    losses: dict[str, float]
    skipped: int  # updates skipped for a non-finite loss in this batch
    d_reinit: bool


class GanUpdater:
    """Owns the two Adam optimisers and applies one update per batch (see the module docstring)."""

    def __init__(
        self, model: nn.Module, config: TrainConfig, device: torch.device, replicas: Replicas | None = None
    ) -> None:
        self.model = model
        self.config = config
        self.device = device
        self.replicas = replicas or Replicas(device)
        self.nets = self.replicas.nets(model, config.compile)
        self.objective = objective_for(model)
        self.weights = losses.LossWeights(
            adv=config.w_adv, con=config.w_con, lat=config.w_lat, enc=config.w_enc
        )
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(model.generator.parameters(), lr=config.lr, betas=betas)
        self.opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=config.lr, betas=betas)
        self.set_lr(config.lr)  # G's scale lives in set_lr alone
        self.consecutive_nonfinite = 0
        # the weights every evaluation uses when ema_decay > 0 (training.ema); None: the live G
        self.average = GeneratorAverage(model.generator, config.ema_decay) if config.ema_decay else None

    def evaluated_weights(self) -> contextlib.AbstractContextManager:
        """The generator as evaluations must see it during the block: averaged when EMA is on."""
        return self.average.swapped_in() if self.average is not None else contextlib.nullcontext()

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    def set_lr(self, lr: float) -> None:
        """Set D's learning rate to ``lr`` and G's to ``lr`` times ``g_lr_scale`` (the trainer's per-epoch
        schedule, TrainConfig.lr_at)."""
        scales = {"g": self.config.g_lr_scale, "d": 1.0}
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = lr * scales[name]

    def _autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast for the forward passes; weights, optimiser and losses stay fp32."""
        if self.config.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _apply(self, loss: Tensor, optimizer: torch.optim.Optimizer, what: str) -> bool:
        """Backward and step unless the loss is non-finite; stop training if that keeps happening."""
        optimizer.zero_grad(set_to_none=True)
        total = self.replicas.mean(loss)  # every process decides alike (see training.distributed)
        if not torch.isfinite(total):
            self.consecutive_nonfinite += 1
            log.warning("non-finite %s loss (%s): update skipped", what, total.item())
            if self.consecutive_nonfinite >= self.config.max_nonfinite:
                raise NonFiniteLossError(
                    f"{self.consecutive_nonfinite} consecutive updates had a non-finite loss: "
                    "training stopped. Try a lower --lr, --precision fp32, or check the data for NaN/inf."
                )
            return False
        loss.backward()
        optimizer.step()
        self.consecutive_nonfinite = 0
        return True

    def step(self, x: Tensor) -> StepResult:
        model, skipped, d_reinit = self.model, 0, False
        with self._autocast():
            gen = self.nets.generate(self.corrupt(x))
        fake = gen.recon.detach()
        d_loss = torch.zeros(())
        for _ in range(self.config.d_steps):
            with self._autocast():
                real_logits, _ = discriminate(self.nets.discriminator, x)
                fake_logits, _ = discriminate(self.nets.discriminator, fake)
            d_loss = losses.discriminator_loss(real_logits.float(), fake_logits.float())
            if self.config.rotation_loss:
                d_loss = d_loss + self.config.rotation_loss * self.rotation_loss(x)
            skipped += not self._apply(d_loss, self.opt_d, "discriminator")
        if self.replicas.mean(d_loss).item() < self.config.d_reinit_threshold:
            self.reinit_discriminator()
            d_reinit = True

        stats = (
            frozen_bn_stats(model.discriminator) if self.config.freeze_d_stats else contextlib.nullcontext()
        )
        with frozen(model.discriminator), stats, self._autocast():
            fake_logits, fake_feats = discriminate(self.nets.frozen_discriminator, gen.recon)
            with torch.no_grad():
                _, real_feats = discriminate(self.nets.frozen_discriminator, x)
        terms = self.objective.terms(
            x, _float(gen), fake_logits.float(), fake_feats.float(), real_feats.float(), self.weights
        )
        g_loss = sum(terms.values())
        updated = self._apply(g_loss, self.opt_g, "generator")
        skipped += not updated
        if updated and self.average is not None:
            self.average.update()
        names = ["d", "g", *terms]
        means = self.replicas.mean(torch.stack([d_loss.float(), g_loss.float(), *terms.values()]))
        values = dict(zip(names, means.tolist(), strict=True))
        return StepResult(values, skipped, d_reinit)

    def rotation_loss(self, x: Tensor) -> Tensor:
        """D's quarter-turn loss on the real images (``--rotation-loss``); the features come through the
        step's (DDP-wrapped) D, the head reads them."""
        turned, turns = quarter_turns(x)
        with self._autocast():
            _, feats = discriminate(self.nets.discriminator, turned)
        return losses.rotation_loss(self.model.discriminator.rotation(feats.float()), turns)

    def corrupt(self, x: Tensor) -> Tensor:
        """G's input: ``x`` with the configured corruptions (training.corruption), or ``x`` itself.

        Draws are made as one process makes them (Replicas.as_global_batch); each image's texture donor
        is the previous image of this process's own share, carried beside it as extra channels.
        """
        masked, texture, channels = self.config.masked_input, self.config.foreign_texture, x.shape[1]
        out = self.replicas.as_global_batch(lambda t: noise_patches(t, masked), x) if masked else x
        if texture:
            pair = torch.cat([out, x.roll(1, 0)], 1)
            out = self.replicas.as_global_batch(
                lambda t: foreign_texture(t[:, :channels], t[:, channels:], texture), pair
            )
        return out

    def reinit_discriminator(self) -> None:
        """Fresh D weights and a fresh Adam state (stale moments would fight the new weights)."""
        log.info("discriminator loss collapsed below %g: re-initialising D", self.config.d_reinit_threshold)
        dcgan_init_(self.model.discriminator)
        self.replicas.broadcast(self.model.discriminator)
        self.opt_d.state.clear()


def _float(gen: Generated) -> Generated:
    """The generator output in fp32 for the losses (a no-op without autocast)."""
    return Generated(*(None if t is None else t.float() for t in (gen.recon, gen.z, gen.z_hat)))
