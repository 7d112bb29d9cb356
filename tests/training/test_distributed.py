"""Several training processes (torchrun, gloo on 127.0.0.1) compute what one process computes.

The process tests run ``tests/training/ddp_worker.py`` (the ``anotrans`` CLI plus a BatchNorm-free
GANomaly) as subprocesses, each with a hard timeout, so a hanging rank fails the test instead of the suite.
"""

from __future__ import annotations

import json
import os
import runpy
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from anotrans.data.loader import make_loader
from anotrans.errors import ConfigError
from anotrans.training.distributed import EpochSampler, Replicas

WORKER = str(Path(__file__).with_name("ddp_worker.py"))
TIMEOUT_S = 120  # per launch; a healthy one takes seconds
RUN = [
    "train", "--data", "synthetic", "--image-size", "16", "--max-train-images", "64",
    "--max-test-images", "32", "--model", "ganomaly-nobn", "--model-option", "ngf=8",
    "--model-option", "nz=16", "--model-option", "disc_ndf=8", "--batch-size", "16", "--no-progress",
    "--deterministic", "--threads", "1", "--masked-input", "0.5", "--rotation-loss", "0.5",
]  # fmt: skip


def _env(**extra: str) -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    path = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", **extra}


def _launch(args: list[str], processes: int = 1, **env: str) -> subprocess.Popen:
    """The worker in one process, or under torchrun (``--standalone`` picks a free port) in several."""
    prefix = [sys.executable]
    if processes > 1:
        prefix += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    return subprocess.Popen(
        [*prefix, WORKER, *args], env=_env(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish(proc: subprocess.Popen) -> str:
    try:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"training processes did not finish within {TIMEOUT_S} s")
    assert proc.returncode == 0, out
    return out


def _max_difference(a: Path, b: Path) -> float:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    return max((wa[k] - wb[k]).abs().max().item() for k in wa)


def _epochs(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "epochs.jsonl").read_text().splitlines()]


def test_two_processes_and_a_resume_on_one_give_the_one_process_weights(tmp_path: Path) -> None:
    """1 process x 16 images vs 2 processes x 8 (3 GAN steps an epoch, d_steps 2, masked input, D's
    rotation loss) with a checkpoint every update, rank 1 killed at its 6th step (mid epoch 2), resumed
    on 1 process there: weights within 1e-5 of the uninterrupted one-process run, same losses and
    scores."""
    single, split = tmp_path / "single", tmp_path / "split"
    one = _launch([*RUN, "--epochs", "2", "--out", str(single)])
    args = [*RUN, "--epochs", "2", "--checkpoint-every", "1", "--out", str(split)]
    two = _launch(args, processes=2, ANOTRANS_TEST_EXIT_AT_STEP="6")
    two.communicate(timeout=TIMEOUT_S)
    assert two.returncode != 0
    # Rank 0 wrote a checkpoint after step 4 or 5: epoch 2, counted in global batches.
    state_file = load_file(str(split / "state.safetensors"))
    with safe_open(str(split / "state.safetensors"), "pt") as f:
        progress = json.loads(f.metadata()["anotrans"])["progress"]
    assert progress["epoch"] == 1 and progress["batches"] in (1, 2)
    _finish(_launch(["train", "--resume", str(split), "--threads", "1", "--no-progress"]))
    _finish(one)

    assert _max_difference(single, split) < 1e-5
    # Not trivially equal: the resumed updates moved the weights well beyond that tolerance.
    final = load_file(str(split / "model.safetensors"))
    moved = max((final[k] - state_file[f"model.{k}"]).abs().max().item() for k in final)
    assert moved > 1e-4
    # Losses (global means, epoch 2 partly on 2 processes) and validation scores (sharded, gathered)
    # are one process's.
    for first, second in zip(_epochs(single), _epochs(split), strict=True):
        for key in ("loss_d", "loss_g", "loss_g_con", "val_recon", "val_latent"):
            assert first[key] == pytest.approx(second[key], rel=1e-5, abs=1e-7), key
    metrics = [json.loads((run / "metrics.json").read_text()) for run in (single, split)]
    assert metrics[0]["image_auroc"] == pytest.approx(metrics[1]["image_auroc"], abs=1e-6)
    assert metrics[0]["threshold"] == pytest.approx(metrics[1]["threshold"], rel=1e-5)
    # Rank 0 alone wrote: the same files as one process, no stray temporaries.
    assert sorted(p.name for p in single.iterdir()) == sorted(p.name for p in split.iterdir())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_killed_rank_ends_the_other_with_an_error(tmp_path: Path) -> None:
    """Rank 1 exits hard at its 2nd step: rank 0 stops with `error: ...` (exit 2), not a hang."""
    base = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": "2"}
    args = [*RUN, "--epochs", "2", "--dist-timeout", "30", "--out", str(tmp_path / "run")]
    procs = [
        subprocess.Popen(
            [sys.executable, WORKER, *args],
            env=_env(**base, RANK=str(r), LOCAL_RANK=str(r), ANOTRANS_TEST_EXIT_AT_STEP="2"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in (0, 1)
    ]
    try:
        out, _ = procs[0].communicate(timeout=TIMEOUT_S)
        procs[1].wait(timeout=TIMEOUT_S)
    finally:
        for proc in procs:
            proc.kill()
    assert procs[1].returncode == 3
    assert procs[0].returncode == 2, out
    assert "error: process 0 of 2: another training process failed" in out
    assert "Traceback" not in out


def test_epoch_sampler_splits_the_one_process_batches() -> None:
    """Rank r's i-th batch of B/N images + the other ranks' = the one-process i-th batch of B, every epoch."""
    data, seed = list(range(37)), 7 * 100_003
    for epoch in (0, 3):
        single = list(make_loader(data, 8, shuffle=True, seed=seed + epoch, drop_last=True))
        shards = []
        for rank in (0, 1):
            sampler = EpochSampler(data, 2, rank, shuffle=True, seed=seed, drop_last=True)
            sampler.set_epoch(epoch)
            shards.append(list(make_loader(data, 4, seed=seed + epoch, drop_last=True, sampler=sampler)))
        assert len(shards[0]) == len(shards[1]) == len(single) == 4
        for whole, part0, part1 in zip(single, *shards, strict=True):
            assert sorted(whole.tolist()) == sorted(part0.tolist() + part1.tolist())
        # A mid-epoch resume skips global batches: each rank skips that many of its shares.
        resumed = []
        for rank in (0, 1):
            sampler = EpochSampler(data, 2, rank, shuffle=True, seed=seed, drop_last=True)
            sampler.set_epoch(epoch)
            resumed.append(
                list(make_loader(data, 4, seed=seed + epoch, drop_last=True, sampler=sampler, skip=3 * 4))
            )
        assert [b.tolist() for b in resumed[0]] == [b.tolist() for b in shards[0][3:]]
        assert [b.tolist() for b in resumed[1]] == [b.tolist() for b in shards[1][3:]]
    assert [b.tolist() for b in single] != [b.tolist() for b in make_loader(data, 8, shuffle=True, seed=1)]


def test_the_batch_must_split_evenly() -> None:
    replicas = Replicas(torch.device("cpu"), rank=1, world_size=4)
    assert replicas.local_batch(64) == 16
    with pytest.raises(ConfigError, match=r"--batch-size 66 .* multiple of 4"):
        replicas.local_batch(66)


def test_one_process_is_plain() -> None:
    """Without torchrun nothing is wrapped, sharded or gathered."""
    from anotrans.networks import build_model

    model = build_model("ganomaly", image_size=16, ngf=8, nz=16, disc_ndf=8)
    replicas = Replicas(torch.device("cpu"))
    nets = replicas.nets(model)
    assert nets.discriminator is model.discriminator is nets.frozen_discriminator
    assert nets.generator.generator is model.generator
    data = list(range(5))
    assert replicas.shard(data) is data and replicas.train_sampler(data, 0) is None


def test_compile_option_wraps_both_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--compile`` hands G's pass and D to torch.compile (recorded here: compiling takes minutes on CPU)."""
    from anotrans.networks import build_model

    model = build_model("ganomaly", image_size=16, ngf=8, nz=16, disc_ndf=8)
    compiled: list[torch.nn.Module] = []
    monkeypatch.setattr(torch, "compile", lambda module: compiled.append(module) or module)
    nets = Replicas(torch.device("cpu")).nets(model, compile_nets=True)
    assert compiled == [nets.generator, model.discriminator]
    assert nets.generator.generator is model.generator


def test_python_dash_m_anotrans_runs_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """``torchrun -m anotrans`` needs ``python -m anotrans``."""
    monkeypatch.setattr(sys, "argv", ["anotrans", "train", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("anotrans", run_name="__main__")
    assert exit_info.value.code == 0
    assert "--sync-bn" in capsys.readouterr().out


def test_sync_bn_converts_every_batchnorm_in_place() -> None:
    """``sync_bn`` (set on CUDA only) swaps each BatchNorm for SyncBatchNorm, keeping its parameters."""
    from anotrans.networks import build_model

    model = build_model("ganomaly", image_size=16, ngf=8, nz=16, disc_ndf=8)
    before = {name: p for name, p in model.named_parameters()}
    Replicas(torch.device("cpu"), sync_bn=True).nets(model)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, torch.nn.SyncBatchNorm) for m in norms)
    assert all(before[name] is p for name, p in model.named_parameters())
