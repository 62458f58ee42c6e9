"""DICOM in and out: CT series, DICOM SEG and RTSTRUCT lesions, SEG and TID 1500 SR results.

pydicom and highdicom are the optional extra ``mirv[dicom]``; every module here imports them through
:func:`require`, lazily, so the rest of MIRV works without them and a user who needs them is told how to
install them.
"""

from __future__ import annotations

import importlib
import io
import os
from pathlib import Path
from types import ModuleType
from typing import Any

INSTALL_HINT = "pip install 'mirv[dicom]'"


class DicomError(ValueError):
    """DICOM input MIRV cannot use (wrong kind of object, files that do not belong together, bad geometry);
    the message names the file or folder. A ValueError, so the CLIs report it as unusable input (exit 2)."""


class DicomExtraMissing(ImportError, ValueError):
    """pydicom/highdicom are not installed. Also a ValueError: to a CLI, DICOM input without the extra is
    unusable input (exit code 2, the install hint printed), not a crash."""


def require(module: str = "pydicom") -> ModuleType:
    """``module`` (pydicom or highdicom), or :class:`DicomExtraMissing` saying how to install the DICOM extra."""
    try:
        imported = importlib.import_module(module)
    except ImportError as error:
        raise DicomExtraMissing(f"reading and writing DICOM needs {module}: {INSTALL_HINT} ({error})") from error
    if module == "highdicom":
        _numpy2_alias_for_highdicom_022(imported)
    return imported


def _numpy2_alias_for_highdicom_022(hd: ModuleType) -> None:
    """Give numpy ≥ 2 back ``numpy.float_`` (= float64) for highdicom < 0.23.

    highdicom 0.22 is the newest on Python 3.9 (Slicer 5.8) and its SEG writer tests ``dtype in (np.float_, ...)``,
    an alias numpy 2.0 removed; 0.23 dropped it (highdicom PR #295), so nothing is changed for newer versions.
    """
    import numpy

    version = tuple(int(part) for part in hd.__version__.split(".")[:2])
    if version < (0, 23) and not hasattr(numpy, "float_"):
        numpy.float_ = numpy.float64


def file_bytes(dataset: Any) -> bytes:
    """``dataset`` as a DICOM Part 10 file (preamble, file meta information), in memory.

    pydicom 3 spells this ``enforce_file_format=True``; pydicom 2.4 (the newest on Python 3.9, i.e. Slicer 5.8)
    ``write_like_original=False``, which pydicom 3 deprecates.
    """
    pydicom = require("pydicom")
    option = "enforce_file_format" if int(pydicom.__version__.split(".")[0]) >= 3 else "write_like_original"
    buffer = io.BytesIO()
    dataset.save_as(buffer, **{option: option == "enforce_file_format"})
    return buffer.getvalue()


def is_dicom_file(path: str | os.PathLike[str]) -> bool:
    """A DICOM Part 10 file (``DICM`` after the 128-byte preamble), or any ``.dcm`` file; checked without pydicom."""
    path = Path(path)
    if path.suffix.lower() == ".dcm":
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(132)[128:] == b"DICM"
    except OSError:
        return False
