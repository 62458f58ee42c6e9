"""Provenance and atomic output: every file MIRV writes can say what made it and is never half-written."""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import json
import math
import os
import platform
import tempfile
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from MIRVLib import __version__

if TYPE_CHECKING:  # pandas is imported where a table is used: `mirv extract` and its workers never need it
    import pandas as pd

def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()

_TRACKED_DISTRIBUTIONS = (
    "pyradiomics-bhklab", "pyradiomics", "SimpleITK", "numpy", "scipy", "pandas",
    "lifelines", "statsmodels", "scikit-learn", "PyWavelets",
)


def library_versions() -> dict[str, str]:
    """Versions of MIRV, Python and every scientific library that can change a number."""
    versions = {"mirv": __version__, "python": platform.python_version()}
    for name in _TRACKED_DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def pyradiomics_version(versions: dict[str, str] | None = None) -> str | None:
    """The installed PyRadiomics (the pinned bhklab fork or upstream) from ``library_versions()``; None if absent."""
    versions = library_versions() if versions is None else versions
    return versions.get("pyradiomics-bhklab") or versions.get("pyradiomics")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hash a file, or every file of a folder (DICOM series) in sorted name order."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(chunk_size), b""):
                digest.update(chunk)
    return digest.hexdigest()


def sha256_frame(frame: pd.DataFrame) -> str:
    """Content hash of a table (column names, index and values), independent of how it was stored."""
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(json.dumps([str(c) for c in frame.columns]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=True).values.tobytes())
    return digest.hexdigest()


def provenance_record(
    *,
    inputs: Mapping[str, str | os.PathLike[str]] | None = None,
    parameters: Mapping[str, Any] | None = None,
    parameter_file: str | os.PathLike[str] | None = None,
    preset: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON-ready record: when, versions, preset, parameter file with hash, input files with hashes."""
    record: dict[str, Any] = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": library_versions(),
        "platform": platform.platform(),
    }
    if preset is not None:
        record["preset"] = preset
    if parameter_file is not None:
        record["parameterFile"] = {"path": str(parameter_file), "sha256": sha256_file(parameter_file)}
    if parameters:
        record["parameters"] = dict(parameters)
    if inputs:
        record["inputs"] = {name: {"path": str(p), "sha256": sha256_file(p)} for name, p in inputs.items()}
    if extra:
        record.update(extra)
    return record


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write via a temporary file in the same folder and rename, so readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, _FILE_MODE)  # mkstemp creates 0600; outputs should be as readable as a plain open()
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], payload: Any, *, indent: int | None = 2) -> Path:
    """``indent=None``: compact, and written by json's C encoder (several times faster on large payloads)."""
    return atomic_write_text(path, json.dumps(payload, indent=indent, sort_keys=False, default=str) + "\n")


def atomic_write_csv(path: str | os.PathLike[str], frame: pd.DataFrame, *, index: bool = False) -> Path:
    """Locale-independent CSV ('.' decimals, ',' separator) with round-trip float precision."""
    return atomic_write_text(path, frame.to_csv(index=index, float_format=None, lineterminator="\n"))


def _csv_field(value: Any) -> str:
    """One value as pandas' ``to_csv`` writes it: shortest round-trip float, NaN/None empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value)) if isinstance(value, float) else str(value)


def atomic_write_rows(path: str | os.PathLike[str], columns: Iterable[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    """The bytes :func:`atomic_write_csv` writes for ``DataFrame(rows)[columns]``, without importing pandas.

    For per-row records of strings and floats (missing keys are empty), e.g. one lesion per row.
    """
    columns = list(columns)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_csv_field(row.get(column)) for column in columns] for row in rows)
    return atomic_write_text(path, text.getvalue())


def hash_settings(settings: Mapping[str, Any] | Iterable[Any]) -> str:
    """Stable hash of a JSON-serialisable settings object (used to decide whether a result can be reused)."""
    return sha256_bytes(json.dumps(settings, sort_keys=True, default=str).encode())
