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

import anotrans


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
    """``anotrans VERSION``, plus the git commit when the package runs from the working directory's checkout.

    An installed package has no source tree, so its version is what names the code; the commit (marked
    when tracked files have uncommitted changes) is added only when the imported package lies inside the
    git repository of the working directory, so an unrelated repository's commit is never reported.
    """
    version = f"anotrans {anotrans.__version__}"
    top = _git("rev-parse", "--show-toplevel")
    if not top or not Path(anotrans.__file__).resolve().is_relative_to(Path(top).resolve()):
        return version
    dirty = " + uncommitted changes" if _git("status", "--porcelain", "--untracked-files=no") else ""
    return f"{version}, git {_git('rev-parse', '--short', 'HEAD')}{dirty}"


def _git(*args: str) -> str:
    """Output of ``git ARGS`` in the working directory; empty when git or a repository is missing."""
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


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
        f"- code: {commit()}",
        f"- machine: {machine()}; torch {torch.__version__}",
        f"- date: {now}",
    ]
