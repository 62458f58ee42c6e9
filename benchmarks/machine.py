"""What the machine can give right now: benchmarks print these next to their ratios so a reader can tell a
slow program from a busy machine."""

from __future__ import annotations

import multiprocessing
import os
import time


def load_average() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def two_process_speedup(n: int = 10_000_000) -> float:
    """Speed-up of two CPU-bound processes over one on a pure Python loop: the ceiling for `--jobs 2` now."""
    start = time.perf_counter()
    _burn(n), _burn(n)
    serial = time.perf_counter() - start
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_burn, [1, 1])  # start-up outside the timing
        start = time.perf_counter()
        pool.map(_burn, [n, n], chunksize=1)
        parallel = time.perf_counter() - start
    return serial / parallel
