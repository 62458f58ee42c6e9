"""Feature extraction off Slicer's GUI thread: a background process that the module polls with a timer.

The GUI thread converts the nodes (MRML is not thread-safe) into a SimpleITK image and lesion masks and pickles
them into a job folder; ``extraction_worker.py`` runs in its own Python process (Slicer sets ``sys.executable`` to
PythonSlicer) and reports each finished lesion. Polling is cheap (one small file read), so the application stays
responsive; Cancel leaves a file that the worker checks after every lesion. No Qt: the widget owns the timer.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import MIRVLib
from MIRVLogic import extraction_worker as worker

WORKER = Path(worker.__file__).resolve()


class ExtractionCancelled(Exception):
    """The user cancelled the extraction (the GUI's Cancel button); nothing was written to the scene."""


@dataclass(frozen=True)
class ExtractionProgress:
    done: int
    total: int
    lesion: str = ""


def _environment() -> dict[str, str]:
    """This environment, with the folder that holds MIRVLib first on PYTHONPATH (the worker imports MIRVLib)."""
    environment = dict(os.environ)
    library = str(Path(MIRVLib.__file__).resolve().parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join(p for p in (library, environment.get("PYTHONPATH", "")) if p)
    return environment


class ExtractionJob:
    """One running extraction. Poll `progress` and `running` from a timer, then take `result` (or `cancel`)."""

    def __init__(self, request: dict[str, Any], total: int, target: dict[str, str]) -> None:
        """``request`` is what `extraction_worker.run` reads; ``target`` names the nodes the result belongs to."""
        if not sys.executable:
            raise RuntimeError("no Python interpreter to run the extraction in (PythonSlicer not found on PATH)")
        self.total = total
        self.target = target
        self.folder = Path(tempfile.mkdtemp(prefix="MIRV-extraction-"))
        (self.folder / worker.REQUEST).write_bytes(pickle.dumps(request))
        self._log = open(self.folder / "worker.log", "wb")  # noqa: SIM115 - closed when the job ends
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), str(self.folder)], stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=_environment(),
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))  # no console window on Windows

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def cancelled(self) -> bool:
        return (self.folder / worker.CANCEL).exists()

    def progress(self) -> ExtractionProgress:
        """Lesions finished so far (the worker's last complete progress line)."""
        path = self.folder / worker.PROGRESS
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        for line in reversed(lines):
            try:
                done, total, lesion = json.loads(line)
            except ValueError:  # a line being written right now
                continue
            return ExtractionProgress(done, total, lesion)
        return ExtractionProgress(0, self.total)

    def cancel(self) -> None:
        """Ask the worker to stop after the lesion it is extracting."""
        (self.folder / worker.CANCEL).touch()

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(timeout)

    def result(self) -> tuple[Any, dict[str, Any]]:
        """The feature table (DataFrame) and provenance of a finished job; the job folder is removed.

        Raises `ExtractionCancelled` after a cancel and RuntimeError (with the worker's output) when it failed.
        """
        if self.running:
            raise RuntimeError("the extraction is still running")
        try:
            code = self.process.returncode
            if code == worker.EXIT_CANCELLED:
                raise ExtractionCancelled("cancelled by the user")
            if code != worker.EXIT_DONE:
                output = (self.folder / "worker.log").read_text(encoding="utf-8", errors="replace").strip()
                raise RuntimeError(f"the extraction process failed (exit code {code}):\n{output[-4000:]}")
            outcome = pickle.loads((self.folder / worker.RESULT).read_bytes())
            return outcome["features"], outcome["provenance"]
        finally:
            self.discard()

    def discard(self) -> None:
        """Stop the worker if it still runs and remove the job folder."""
        if self.running:
            self.process.kill()
            self.process.wait()
        self._log.close()
        shutil.rmtree(self.folder, ignore_errors=True)
