"""Coded concepts MIRV writes into DICOM SEG and SR objects, and the way back from codes to MIRV site names.

Lesion sites (the vocabulary of ``MIRV/MIRVLogic/sites.py``) map to SNOMED CT body structures, the codes DICOM
CID 4031 / Slicer's terminology use for anatomic regions. A site without a SNOMED code (``other``, or a free-text
site from a sites CSV) is written with the private scheme :data:`PRIVATE_SCHEME`, its name as code value, so it
reads back unchanged. MIRV's own measurements (selected features, MIRV values) are private codes of the same
scheme with the feature or column name as code value; ``docs/dicom.md`` documents them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from MIRVLib.dicom import require

PRIVATE_SCHEME = "99MIRV"
SHORT_CODE_LENGTH = 16
# Site (as MIRV writes it, lower case) → SNOMED CT (code value, code meaning), as in DICOM PS3.16 / pydicom's codes.
SITE_CODES: dict[str, tuple[str, str]] = {
    "lung": ("39607008", "Lung"),
    "liver": ("10200004", "Liver"),
    "lymph node": ("59441001", "Lymph node"),
    "bone": ("272673000", "Bone"),
    "soft tissue": ("87784001", "Soft tissue"),
    "peritoneum": ("15425007", "Peritoneum"),
    "pleura": ("3120008", "Pleura"),
    "adrenal": ("23451007", "Adrenal gland"),
}
# Segmented property of every lesion: category "Morphologically Abnormal Structure", type "Neoplasm".
LESION_CATEGORY = ("49755003", "SCT", "Morphologically Abnormal Structure")
LESION_TYPE = ("108369006", "SCT", "Neoplasm")
VOLUME = ("118565006", "SCT", "Volume")
CUBIC_MILLIMETER = ("mm3", "UCUM", "cubic millimeter")
NO_UNITS = ("1", "UCUM", "no units")


def coded(value: str, scheme: str, meaning: str) -> Any:
    """A highdicom ``CodedConcept``."""
    return require("highdicom").sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def private_value(name: str) -> str:
    """The private code value of a name: the name itself if it fits a DICOM code value (16 characters, SH), else
    ``M`` + the first 15 hex digits of its SHA-256. Never a Long Code Value: highdicom's SR parser and older
    DICOM readers only read Code Value."""
    return name if len(name) <= SHORT_CODE_LENGTH else "M" + hashlib.sha256(name.encode()).hexdigest()[:15]


def private_code(name: str) -> Any:
    """A MIRV private concept: code value :func:`private_value`, meaning the name (cut to 64 characters, LO)."""
    return coded(private_value(name), PRIVATE_SCHEME, name[:64])


def site_code(site: str | None) -> Any | None:
    """The anatomic-region code of a lesion site: SNOMED CT where one exists, else private; None for no site."""
    text = (site or "").strip()
    if not text:
        return None
    known = SITE_CODES.get(text.lower())
    return coded(known[0], "SCT", known[1]) if known else private_code(text)


def site_from_code(value: str, scheme: str, meaning: str) -> str:
    """The MIRV site name of an anatomic-region code (the inverse of :func:`site_code`); an unknown SNOMED code
    gives its meaning, lower case."""
    if scheme == PRIVATE_SCHEME:
        return meaning
    for site, (code, _) in SITE_CODES.items():
        if scheme in ("SCT", "SRT") and code == value:
            return site
    return meaning.strip().lower()
