"""Where a measurement came from: command, commit, machine, date; every results file starts with it."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[3]


def machine() -> str:
    """Cores, CPU model and, when present, the CUDA device."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    text = f"{len(os.sched_getaffinity(0))} usable cores ({os.cpu_count()} online), {cpu}"
    if torch.cuda.is_available():
        text += f"; GPU: {torch.cuda.get_device_name(0)}"
    return text


def commit() -> str:
    """Short HEAD hash, marked when the work tree has uncommitted changes to tracked files."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    sha = git("rev-parse", "--short", "HEAD") or "unknown"
    return f"{sha} + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else sha


def command() -> str:
    """The command line that started this process, as one would type it from the repository root."""
    program = sys.argv[0]
    start = ["python", program] if program.endswith(".py") else [Path(program).name]
    return shlex.join([*start, *sys.argv[1:]])


def header(title: str, cmd: str | None = None) -> list[str]:
    """Markdown lines that open a results file."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return [
        f"# {title}",
        "",
        f"- command: `{cmd or command()}`",
        f"- commit: {commit()}",
        f"- machine: {machine()}; torch {torch.__version__}",
        f"- date: {now}",
    ]
