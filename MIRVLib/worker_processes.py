"""Where lesion-extraction worker processes come from: a fork server started before anything heavy is read.

A worker needs ~0.4 s of imports (NumPy, SciPy, SimpleITK, PyWavelets, the feature engine). The fork server
imports them once and forks every worker from that state, so workers start pre-imported and without
forking a multi-threaded ITK process. Starting it is the first thing ``mirv extract --jobs N`` does: its
imports then run on the second core while the command imports and reads the image and segmentation, and
the first worker is ready when the first lesion is. This module imports nothing heavy for that reason.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys

# What every worker needs before its first lesion: the default (native) engine and its feature classes.
# The pyradiomics engine's modules are imported by its workers on first use.
PRELOAD = (
    "MIRVLib.extraction", "MIRVLib.engine.extractor", "MIRVLib.engine.filters", "MIRVLib.engine.firstorder",
    "MIRVLib.engine.shape", "MIRVLib.engine.glcm", "MIRVLib.engine.glrlm", "MIRVLib.engine.glszm",
    "MIRVLib.engine.gldm", "MIRVLib.engine.ngtdm", "pywt",
)


def pool_context() -> multiprocessing.context.BaseContext:
    """forkserver where available (workers start pre-imported, no fork of a threaded process), else spawn."""
    if sys.platform.startswith("linux"):
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(PRELOAD))
        return context
    return multiprocessing.get_context("spawn")


def start_fork_server(jobs: int) -> None:
    """Start the fork server now (returns at once) when ``jobs > 1`` will need worker processes."""
    if jobs > 1 and sys.platform.startswith("linux"):
        from multiprocessing import forkserver

        pool_context()
        forkserver.ensure_running()


def stop_fork_server() -> None:
    """End the fork server once a command is done with workers (its pool is shut down).

    Otherwise it tears its preloaded modules down only after this process has exited, holding this
    command's stdout/stderr open ~0.1–0.2 s longer. The next pool in this process would start a new one.
    """
    if sys.platform.startswith("linux"):
        from multiprocessing import forkserver

        pid = getattr(forkserver._forkserver, "_forkserver_pid", None)  # no public accessor
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)


def capped_jobs(jobs: int, command: str) -> int:
    """``jobs`` (>= 1, else ValueError) capped at the CPUs this process may use, with a note on stderr.

    More single-threaded workers than CPUs only add memory (one image per worker) and switching, not speed.
    """
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if jobs > cpus:
        print(f"{command}: --jobs {jobs} capped at {cpus}, the number of CPUs available", file=sys.stderr)
        return cpus
    return jobs
