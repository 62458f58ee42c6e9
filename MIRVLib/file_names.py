"""File names derived from identifiers (patient IDs, subgroup and column names), in one place.

IDs come from users' spreadsheets: "LMS/uterine" and "LMS uterine", or "A/1" and "A:1", must not become the
same file (one would overwrite the other while the command reports both), and a 300-character ID must not
crash a run with ENAMETOOLONG after half its files are written. So a name is:

* **safe** on every OS: characters other than ``A-Z a-z 0-9 . _ -`` become ``_``;
* **collision-free**: whenever that changed the text, or it was cut to length, a short hash of the original
  is appended, so two IDs give two names;
* **bounded**: at most :data:`MAX_STEM` characters, leaving room for suffixes within the usual 255-byte limit;
* **stable**: it depends on the text only, not on which other IDs are in the run, so a patient's files keep
  their names across runs and subsets.

IDs that are already safe (e.g. ``TH-CR-040601``) pass through unchanged. Commands record the names they
used in their provenance (:func:`file_name_record`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from MIRVLib.provenance import sha256_bytes

MAX_STEM = 120
HASH_LENGTH = 8
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_stem(text: object, max_length: int = MAX_STEM) -> str:
    """``text`` as a safe, collision-free, length-bounded, stable file name stem (see the module doc)."""
    text = str(text)
    safe = _UNSAFE.sub("_", text).strip("._")
    if safe == text and 0 < len(safe) <= max_length:
        return safe
    digest = sha256_bytes(text.encode("utf-8", "surrogatepass"))[:HASH_LENGTH]
    return f"{safe[:max_length - HASH_LENGTH - 1]}-{digest}" if safe else digest


def file_stems(texts: Iterable[object]) -> list[str]:
    """:func:`file_stem` of each text (one name per distinct text)."""
    return [file_stem(text) for text in texts]


def file_name_record(texts: Iterable[object]) -> dict[str, str]:
    """The names that differ from their text, for provenance: which file holds which ID."""
    return {str(text): stem for text in texts if (stem := file_stem(text)) != str(text)}
