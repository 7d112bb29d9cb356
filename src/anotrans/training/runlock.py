"""One ``anotrans train`` per run directory: an advisory lock held for the whole training.

Two processes writing the same checkpoints would each overwrite the other's state with states from
another trajectory; the second one refuses instead. The lock is ``fcntl.flock`` on ``RUN_DIR/.lock``,
released by the kernel when the process ends, even by ``kill -9``, so a crash never leaves a stale lock.
Holding it, a run also removes the temporary files a killed writer left behind (``.NAME.*.tmp``).
Where ``fcntl`` does not exist (Windows) no lock is taken.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from anotrans.errors import CheckpointError

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold the run directory's lock, or raise CheckpointError naming the process that holds it."""
    if fcntl is None:
        yield
        return
    path = Path(run_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise CheckpointError(
                f"{run_dir} is in use by another `anotrans train` (pid {holder}); wait for it to end, "
                "or give another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        for leftover in Path(run_dir).glob(".*.tmp"):  # temp files of a killed writer; none is ours now
            leftover.unlink(missing_ok=True)
        yield
    finally:
        os.close(fd)  # closing releases the lock
