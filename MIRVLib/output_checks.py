"""Checks on where a command writes, done before any work starts, and the lock of a batch output folder.

A command that computes for minutes and then cannot write, or writes its CSV over the image it read, loses
the work or the input. So every ``--out`` is checked first: not one of the inputs, the right kind (file or
folder), and writable (by writing and removing a probe file, which also catches a read-only file system and
root-owned folders that ``os.access`` would misjudge). Failures are :class:`OutputError` with one line naming
the path and the cause; commands report them with exit code 2 (unusable input).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Union

PathLike = Union[str, "os.PathLike[str]"]
LOCK_NAME = ".mirv-batch.lock"


class OutputError(ValueError):
    """``--out`` cannot be written as asked; the message names the path and the cause."""


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _refuse_inputs(out: Path, inputs: Iterable[PathLike | None]) -> None:
    for given in inputs:
        if given is None:
            continue
        source = Path(given)
        if _same_file(out, source) or out.resolve() == source.resolve():
            raise OutputError(f"--out {out} is the input {source}; writing there would destroy it")


def _probe(folder: Path) -> None:
    """Write and remove a file in ``folder``: the only reliable test of writability."""
    try:
        handle, name = tempfile.mkstemp(prefix=".mirv-write-test-", dir=folder)
        os.close(handle)
        os.unlink(name)
    except OSError as error:
        raise OutputError(f"cannot write into {folder}: {error.strerror or error}") from error


def check_output_file(out: PathLike, inputs: Iterable[PathLike | None] = ()) -> Path:
    """``out`` as a file to (re)write: not an input, not a folder; its folder (created if missing) writable."""
    out = Path(out)
    _refuse_inputs(out, inputs)
    if out.is_dir():
        raise OutputError(f"--out {out} is a folder; give the path of a file to write")
    if out.parent.exists() and not out.parent.is_dir():
        raise OutputError(f"cannot write {out}: its folder {out.parent} is a file")
    _make_folder(out.parent)
    _probe(out.parent)
    return out


def check_output_folder(out: PathLike, inputs: Iterable[PathLike | None] = ()) -> Path:
    """``out`` as a folder to write into: not an input, not a file; created if missing, and writable."""
    out = Path(out)
    _refuse_inputs(out, inputs)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder to write into")
    _make_folder(out)
    _probe(out)
    return out


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # e.g. a file where a parent folder should be, or a read-only parent
        raise OutputError(f"cannot create folder {folder}: {error.strerror or error}") from error


@contextlib.contextmanager
def folder_lock(folder: PathLike, command: str = "mirv batch") -> Iterator[Path]:
    """Hold ``folder``'s lock while a run writes into it; a second run into the same folder is refused.

    Without it, a second run's start-up cleanup deletes the temporary files of a run already writing there,
    which then dies. The lock is an OS file lock (released when the process dies, even by kill -9), so a
    stale lock file never blocks a later run.
    """
    path = Path(folder) / LOCK_NAME
    handle = open(path, "a+")
    try:
        if not _try_lock(handle):
            raise OutputError(f"another {command} run is writing into {folder} (lock {path}); "
                              "wait for it to finish or choose another --out")
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield path
    finally:
        handle.close()  # closing releases the lock


def _try_lock(handle: IO[str]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
