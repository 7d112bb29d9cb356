"""Kill harness: SIGKILL a training process at random moments, resume it, compare with a clean run.

Used by tests/training/test_kill_resume.py (a few kills) and benchmarks/reliability.py (many). A trial
starts ``anotrans train`` in a subprocess, kills it after a random delay or while it is inside a
checkpoint write (fsync slowed down in the child, the kill timed by the temp file appearing), checks
that every file in the run directory still loads, resumes with ``anotrans train --resume`` and, after
the last kill, lets it finish. The run's final weights must equal the uninterrupted run's bit for bit,
and its logs and metrics must equal them apart from timings.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from safetensors import safe_open

# A deterministic run of a few seconds: tiny GANomaly on synthetic 16 px images, 7 updates per epoch,
# a mid-epoch checkpoint every 3 updates, masked input, foreign texture, an lr decay and a moving
# average of G (RNG draws, schedules and state beyond the weights).
CRASH_RUN = [
    "--data", "synthetic", "--image-size", "16", "--max-train-images", "64", "--batch-size", "8",
    "--model", "ganomaly", "--model-option", "ngf=8", "--model-option", "nz=8",
    "--model-option", "disc_ndf=8", "--model-option", "disc_nz=8",
    "--epochs", "3", "--lr-decay-epochs", "1", "--masked-input", "0.25", "--foreign-texture", "0.5",
    "--ema-decay", "0.9",
    "--select-epoch", "val",
    "--checkpoint-every", "3", "--deterministic", "--threads", "1", "--seed", "3", "--no-progress",
]  # fmt: skip
TIMING_KEYS = frozenset(
    {"seconds", "images_per_second", "train_seconds", "test_seconds", "train_images_per_second",
     "test_images_per_second"}
)  # fmt: skip
# Children are forked from one "zygote" process that has imported anotrans once (no torch op has run in
# it, so forking is safe): each training then costs its own work, not 3+ s of imports. A child runs
# anotrans' own CLI with its output in a log file, writes its exit code to a ``.rc`` file, and has fsync
# slowed by ``slow_fsync`` seconds when asked, so a write is in flight (temp file written, not yet
# renamed) long enough to be killed inside it.
_ZYGOTE = """
import json, os, signal, sys, time
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
from anotrans.cli import main
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid:
        print(pid, flush=True)
        continue
    log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    if job["slow_fsync"]:
        real_fsync = os.fsync
        def slow_fsync(fd, real_fsync=real_fsync, delay=job["slow_fsync"]):
            time.sleep(delay)
            real_fsync(fd)
        os.fsync = slow_fsync
    sys.argv = ["anotrans", *job["args"]]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    with open(job["log"] + ".rc", "w") as f:
        f.write(str(code))
    os._exit(0)
"""


def train_args(out: Path, resume: bool = False, extra: tuple[str, ...] = ()) -> list[str]:
    return ["train", "--resume", str(out)] if resume else ["train", *CRASH_RUN, *extra, "--out", str(out)]


class Launcher:
    """Starts ``anotrans`` runs as forks of a pre-imported zygote; use as a context manager."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.count = 0
        self.zygote = subprocess.Popen(
            [sys.executable, "-c", _ZYGOTE],
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.zygote.stdin.close()
        self.zygote.wait(timeout=30)

    def start(self, args: list[str], slow_fsync: float = 0.0) -> tuple[int, Path]:
        self.count += 1
        log = self.logs / f"run{self.count:03d}.log"
        job = {"args": args, "log": str(log), "slow_fsync": slow_fsync}
        self.zygote.stdin.write(json.dumps(job) + "\n")
        self.zygote.stdin.flush()
        return int(self.zygote.stdout.readline()), log

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def _failed(self, log: Path) -> None:
        rc = Path(f"{log}.rc")
        if rc.exists() and rc.read_text() != "0":
            raise RuntimeError(f"anotrans failed ({rc.read_text()}), see {log}:\n{log.read_text()[-3000:]}")

    def run(self, args: list[str], timeout: float = 600) -> None:
        """Run to the end; RuntimeError with the log if it fails."""
        self.run_and_kill(args, None, float("inf"), False, timeout)

    def run_and_kill(
        self, args: list[str], out: Path | None, delay: float, in_write: bool, timeout: float = 600
    ) -> str:
        """SIGKILL the run ``delay`` s after its config.json exists (``in_write``: at the first temp file in
        ``out`` seen after that). Returns "killed", "killed in write" or "finished" (ended before the kill).

        The clock starts at config.json because loading the data takes a machine-dependent time; a kill
        before config.json exists leaves nothing to resume (the harness then reruns the command).
        """
        pid, log = self.start(args, 0.3 if in_write else 0.0)
        start, clock = time.monotonic(), None
        while not Path(f"{log}.rc").exists() and time.monotonic() - start < timeout:
            if clock is None and out is not None and (out / "config.json").exists():
                clock = time.monotonic()
            due = clock is not None and time.monotonic() - clock >= delay
            if due and (not in_write or any(out.glob(".*.tmp"))):
                os.kill(pid, signal.SIGKILL)
                while self._alive(pid):
                    time.sleep(0.005)
                return "killed in write" if in_write else "killed"
            time.sleep(0.005)
        while self._alive(pid):  # the .rc file is written just before the child exits
            time.sleep(0.005)
        if not Path(f"{log}.rc").exists():
            os.kill(pid, signal.SIGKILL)
            raise RuntimeError(f"anotrans {' '.join(args)} timed out after {timeout} s; see {log}")
        self._failed(log)
        return "finished"


def unloadable_files(run_dir: Path) -> list[str]:
    """Every file of the run directory that does not parse completely (temp files excepted)."""
    problems = []
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        if path.name == ".lock" or path.name.endswith(".tmp"):
            continue
        try:
            if path.suffix == ".safetensors":
                with safe_open(str(path), framework="pt") as f:
                    for key in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
                        f.get_tensor(key)
                    json.loads((f.metadata() or {}).get("anotrans", "{}"))
            elif path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix == ".jsonl":
                text = path.read_text()
                assert text.endswith("\n"), "last line unterminated"
                [json.loads(line) for line in text.splitlines()]
            elif path.suffix == ".csv":
                rows = list(csv.reader(path.read_text().splitlines()))
                assert rows and all(len(r) == len(rows[0]) for r in rows), "ragged rows"
        except Exception as exc:  # anything unreadable is exactly what this check looks for
            problems.append(f"{path}: {type(exc).__name__}: {exc}")
    return problems


def _without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def differences(run: Path, reference: Path) -> list[str]:
    """What differs between two finished runs: weights bytes, metrics and epoch logs (timings aside)."""
    found = []
    for name in ("model.safetensors", "best.safetensors", "scores.csv"):
        if (run / name).read_bytes() != (reference / name).read_bytes():
            found.append(f"{name} differs")
    for name in ("metrics.json", "config.json"):
        a, b = (json.loads((d / name).read_text()) for d in (run, reference))
        if _without_timings(a) != _without_timings(b):
            found.append(f"{name} differs")
    a, b = ([json.loads(x) for x in (d / "epochs.jsonl").read_text().splitlines()] for d in (run, reference))
    if _without_timings(a) != _without_timings(b):
        found.append("epochs.jsonl differs")
    return found


@dataclasses.dataclass
class Trial:
    kills: int = 0
    kills_in_write: int = 0
    resumes: int = 0
    restarts: int = 0  # killed before config.json existed: the original command is run again
    unloadable: list[str] = dataclasses.field(default_factory=list)
    differences: list[str] = dataclasses.field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences


def crash_trial(
    launcher: Launcher, out: Path, reference: Path, delays: list[float], in_write: list[bool]
) -> Trial:
    """Kill at each of ``delays`` (seconds after each start), resuming after each, then finish."""
    trial = Trial()
    for delay, write in zip(delays, in_write, strict=True):
        started = (out / "config.json").exists()
        outcome = launcher.run_and_kill(train_args(out, resume=started), out, delay, write)
        trial.resumes += started
        trial.restarts += not started and trial.kills > 0
        trial.unloadable += unloadable_files(out) if out.exists() else []
        if outcome == "finished":
            break
        trial.kills += 1
        trial.kills_in_write += outcome == "killed in write"
    started = (out / "config.json").exists()
    launcher.run(train_args(out, resume=started))
    trial.resumes += started
    trial.restarts += not started and trial.kills > 0
    trial.unloadable += unloadable_files(out)
    trial.differences = differences(out, reference)
    return trial


def random_kills(rng: random.Random, count: int, duration: float) -> tuple[list[float], list[bool]]:
    """``count`` kill delays within 80 % of a run's ``duration`` (so a run rarely ends before its kill);
    one of them inside a checkpoint write."""
    delays = [rng.uniform(0.0, 0.8 * duration) for _ in range(count)]
    writing = rng.randrange(count)
    in_write = [i == writing for i in range(count)]
    return delays, in_write


def training_seconds(run_dir: Path) -> float:
    """Wall time of a finished run from taking its lock (just before config.json) to metrics.json."""
    return (run_dir / "metrics.json").stat().st_mtime - (run_dir / ".lock").stat().st_mtime
