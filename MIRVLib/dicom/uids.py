"""UIDs for the DICOM objects MIRV writes: random by default, reproducible when a seed is given.

A seeded UID is pydicom's hash-based UID of (seed, what it names, the CT series it derives from): the same
inputs and seed give byte-identical SEG/SR files (tests, the deterministic sample study), different patients or
series never share a UID.
"""

from __future__ import annotations

from MIRVLib.dicom import require


def new_uid(seed: str | None, *parts: str, root: str | None = None) -> str:
    """A UID under ``root`` (pydicom's root if None): random without ``seed``, else derived from seed + parts."""
    uid = require("pydicom").uid
    prefix = root if root is None or root.endswith(".") else root + "."
    return str(uid.generate_uid(prefix=prefix or uid.PYDICOM_ROOT_UID,
                                entropy_srcs=None if seed is None else [str(seed), *map(str, parts)]))
