"""Several training processes (``torchrun``) that together compute what one process computes.

``torchrun --nproc-per-node N -m anotrans train ...`` starts N processes with RANK, WORLD_SIZE, LOCAL_RANK
(and MASTER_ADDR/PORT) set; :func:`launch` reads them and starts PyTorch's process group (NCCL on CUDA,
gloo on CPU) with a timeout, so a rank that dies or stops answering ends the others with an error naming
the cause instead of a wait forever. Without those variables everything here is a no-op (one process).

Why N processes x B/N images give the one-process update on B images:

- ``--batch-size`` is the GLOBAL batch. Each process takes B/N images of every update; DDP averages the
  gradients and every loss is a mean over the batch, so the averaged gradient is the B-image gradient.
- The images of each update are one process's: :class:`EpochSampler` draws the one-process loader's
  permutation and DistributedSampler's strided split hands each rank B/N images of each batch of B.
- Every decision of a step uses the global loss (the mean over processes): skipping a non-finite update,
  re-initialising D, the logged losses. Ranks never disagree, which would deadlock DDP.
- D's k updates run through DDP(D): two forwards (real, fake) and one backward, so one gradient sync per
  update. G's update runs D as the plain module with D's parameters frozen (no DDP: G's backward leaves
  D's gradients untouched, so D's DDP must not wait for them); G runs through DDP(G) once per step.
  Every parameter of G and D takes part in its loss, so ``find_unused_parameters`` stays off.
- BatchNorm: with ``sync_bn`` (default on) every BatchNorm normalises over the global batch
  (SyncBatchNorm), as one process does; without it each process normalises its own B/N images, which
  changes the method (AnoTrans' input BatchNorm, D's BatchNorms) with the process count. PyTorch has
  SyncBatchNorm kernels for CUDA only, so on CPU (gloo) BatchNorm stays per process, with a warning.
- Buffers (BatchNorm running statistics) are not broadcast at every forward; they are used only in eval
  mode, so rank 0's are copied to every rank before each scoring pass (:meth:`Replicas.broadcast`).
- Scoring: each rank scores a contiguous shard of val/test in eval mode (a per-image computation) and the
  tables are gathered in rank order: the one-process table.
- Random draws: every rank has the same seed and draws what one process draws, so the RNGs stay in step
  with one process's: per-image draws (``--masked-input``) are made for the whole global batch and each
  rank keeps its images' (:meth:`Replicas.as_global_batch`); D's re-initialisation is also broadcast.
- Rank 0 alone writes files and shows progress bars; every rank reads a run directory to resume, so a
  run resumes with any process count that divides the batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import inspect
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler, Subset

from anotrans.errors import AnotransError, ConfigError
from anotrans.networks.calling import Generated, generate
from anotrans.scoring.scores import ScoreTable

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 300.0
# DDP's per-forward buffer broadcast is not needed (see the module docstring); the option's name changed.
_NO_FORWARD_BUFFER_SYNC = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
    else {"broadcast_buffers": False}
)


class DistributedError(AnotransError):
    """A training process failed or stopped answering, so the others stop too."""


def main_process() -> bool:
    """True in a plain run and in torchrun's rank 0: the process that writes files and prints."""
    return int(os.environ.get("RANK", "0")) == 0


class EpochSampler(DistributedSampler):
    """DistributedSampler over the permutation ``make_loader(shuffle=True, seed=s)`` draws in one process.

    One process: a DataLoader with ``generator.manual_seed(s)`` first draws its workers' base seed from
    that generator, then ``randperm``. Drawing the same here makes each global batch of an N-process epoch
    the same images as the one-process batch (``set_epoch(e)`` selects the epoch's seed, as in the trainer).
    """

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        torch.empty((), dtype=torch.int64).random_(generator=generator)
        order = torch.randperm(len(self.dataset), generator=generator).tolist()[: self.total_size]
        return iter(order[self.rank : self.total_size : self.num_replicas])


class GeneratorPass(nn.Module):
    """G's pass (``forward_latent`` for GANomaly) as one ``forward`` returning tensors.

    DDP syncs gradients only for what runs through ``forward``, and only for tensor outputs it can find.
    """

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        gen = generate(self.generator, x)
        return tuple(t for t in (gen.recon, gen.z, gen.z_hat) if t is not None)


@dataclasses.dataclass
class GanNets:
    """What one GAN step calls: G's pass, D for its own updates, D inside G's update (frozen there)."""

    generator: nn.Module
    discriminator: nn.Module
    frozen_discriminator: nn.Module

    def generate(self, x: Tensor) -> Generated:
        return Generated(*self.generator(x))


@dataclasses.dataclass(frozen=True)
class Replicas:
    """This process's place among the training processes; ``Replicas(device)`` is a plain run."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    sync_bn: bool = False  # BatchNorm converted to SyncBatchNorm (set by launch on CUDA only)

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def local_batch(self, batch_size: int) -> int:
        """This process's share of a global batch (the batch must split evenly)."""
        if batch_size % self.world_size:
            raise ConfigError(
                f"--batch-size {batch_size} is the global batch and must split evenly over "
                f"{self.world_size} processes; use a multiple of {self.world_size}"
            )
        return batch_size // self.world_size

    def nets(self, model: nn.Module, compile_nets: bool = False) -> GanNets:
        """G and D as a step calls them: DDP-wrapped over several processes, ``torch.compile``-d if asked."""
        if self.sync_bn:
            model.generator = nn.SyncBatchNorm.convert_sync_batchnorm(model.generator)
            model.discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(model.discriminator)
        generator: nn.Module = GeneratorPass(model.generator)
        discriminator: nn.Module = model.discriminator
        if compile_nets:
            generator, discriminator = torch.compile(generator), torch.compile(discriminator)
        frozen = discriminator
        if self.active:
            ids = [self.device.index] if self.device.type == "cuda" else None
            generator, discriminator = (
                DistributedDataParallel(net, device_ids=ids, **_NO_FORWARD_BUFFER_SYNC)
                for net in (generator, discriminator)
            )
        return GanNets(generator, discriminator, frozen)

    def mean(self, values: Tensor) -> Tensor:
        """The mean of ``values`` over the processes (the global-batch mean of per-process means)."""
        if not self.active:
            return values.detach()
        total = values.detach().float().clone()
        dist.all_reduce(total)
        return total / self.world_size

    def as_global_batch(self, fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
        """``fn`` (per-image random draws) applied as one process applies it to the global batch.

        This rank's images sit at positions ``rank::world_size`` of each global batch (EpochSampler's
        strided split), so ``fn`` sees them there among zeros and the same draws land on each image.
        """
        if not self.active:
            return fn(x)
        full = x.new_zeros((x.shape[0] * self.world_size, *x.shape[1:]))
        full[self.rank :: self.world_size] = x
        return fn(full)[self.rank :: self.world_size]

    def broadcast(self, module: nn.Module) -> None:
        """Give every process rank 0's parameters and buffers (after D's re-init, before scoring)."""
        if self.active:
            for tensor in [*module.parameters(), *module.buffers()]:
                dist.broadcast(tensor.data, src=0)

    def barrier(self) -> None:
        """Wait for every process (e.g. for rank 0's file before the others read it)."""
        if self.active:
            dist.barrier()

    def train_sampler(self, dataset: Dataset, seed: int) -> EpochSampler | None:
        """This rank's share of each global batch (None in one process: the loader shuffles itself)."""
        if not self.active:
            return None
        return EpochSampler(dataset, self.world_size, self.rank, shuffle=True, seed=seed, drop_last=True)

    def shard(self, dataset: Dataset) -> Dataset:
        """A contiguous slice of ``dataset`` for this rank to score; :meth:`gather` puts them in order."""
        if not self.active:
            return dataset
        bounds = np.linspace(0, len(dataset), self.world_size + 1).astype(int)
        return Subset(dataset, range(bounds[self.rank], bounds[self.rank + 1]))

    def gather(self, table: ScoreTable) -> ScoreTable:
        """Every rank's scored shard, concatenated in rank order (the one-process table, on every rank)."""
        if not self.active:
            return table
        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, table)
        names = parts[0].components
        return ScoreTable(
            {name: np.concatenate([p.components[name] for p in parts]) for name in names},
            np.concatenate([p.labels for p in parts]),
            [path for p in parts for path in p.paths],
            [defect for p in parts for defect in p.defects],
        )


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be an integer, got {value!r}") from None


def _collective_failure(exc: RuntimeError) -> bool:
    """A failed collective: torch raises DistError, or (gloo's lost connections) a RuntimeError naming it."""
    return isinstance(exc, dist.DistError) or any(k in str(exc) for k in ("gloo", "NCCL", "c10d"))


@contextlib.contextmanager
def launch(
    device: torch.device, sync_bn: bool = True, timeout_s: float = DEFAULT_TIMEOUT_S
) -> Iterator[Replicas]:
    """This process's :class:`Replicas`, with the process group up while the block runs (torchrun's env).

    ``device`` is the resolved ``--device``: CUDA gives each process ``cuda:LOCAL_RANK`` and NCCL, CPU gloo.
    A failed collective (a rank died, or did not answer within ``timeout_s``) leaves as DistributedError.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size <= 1:
        yield Replicas(device)
        return
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    cuda = device.type == "cuda"
    if cuda:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    elif sync_bn and rank == 0:
        log.warning(
            "--sync-bn: PyTorch's SyncBatchNorm runs on CUDA only, so on CPU each of the %d processes "
            "normalises its own share of the batch (training is no longer identical to one process)",
            world_size,
        )
    try:
        dist.init_process_group(
            "nccl" if cuda else "gloo",
            timeout=datetime.timedelta(seconds=timeout_s),
            device_id=device if cuda else None,
        )
    except dist.DistError as exc:
        raise DistributedError(f"process {rank} of {world_size} could not join the others: {exc}") from exc
    try:
        yield Replicas(device, rank, world_size, local_rank, sync_bn=sync_bn and cuda)
    except RuntimeError as exc:
        if not _collective_failure(exc):
            raise
        raise DistributedError(
            f"process {rank} of {world_size}: another training process failed or did not answer within "
            f"--dist-timeout {timeout_s:g} s ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from exc
    finally:
        dist.destroy_process_group()
