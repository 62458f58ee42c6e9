"""DICOM in and out: CT series, DICOM SEG and RTSTRUCT lesions, SEG and TID 1500 SR results.

pydicom and highdicom are the optional extra ``mirv[dicom]``; every module here imports them through
:func:`require`, lazily, so the rest of MIRV works without them and a user who needs them is told how to
install them.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

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
        return importlib.import_module(module)
    except ImportError as error:
        raise DicomExtraMissing(f"reading and writing DICOM needs {module}: {INSTALL_HINT} ({error})") from error


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
