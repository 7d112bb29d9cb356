"""Keep glibc malloc from returning large tensor buffers to the OS after every use.

By default glibc serves big allocations with mmap and trims freed heap memory back to the OS, so
every training step or scoring batch page-faults its activations in again. On the 2-core test
machine that made AnoTrans inference 15-70 % slower (training unchanged within noise) and its speed
vary more between processes (benchmarks/results/speed-notes.md). The CLI and the speed benchmark call
:func:`keep_freed_memory` once at start-up; library imports never change the process's allocator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value: allocations below it come from the heap
TRIM_THRESHOLD = 2**30  # keep up to 1 GiB of freed heap instead of returning it
TOP_PAD = 64 * 2**20  # grow the heap in 64 MiB steps


def keep_freed_memory() -> bool:
    """Apply the settings above with ``mallopt``; False where the C library is not glibc (no-op)."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD))
    return all(mallopt(param, value) == 1 for param, value in settings)
