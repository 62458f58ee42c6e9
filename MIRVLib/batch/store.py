"""Resumable per-patient result store of a batch run.

Each finished patient is one JSON file under ``DIR/patients/``, written atomically (temporary file + rename
through `MIRVLib.provenance`) the moment the patient finishes. A file is either complete or absent, so a run
killed at any instant (``kill -9``) loses at most the patients in flight and never leaves a half patient.
Each file carries a key: the hash of the extraction settings plus a fingerprint of the patient's input
files. ``--resume`` reuses a stored patient only when its key matches, so changing the preset, the
library versions or an input file recomputes exactly the affected patients.

Floats are stored with Python's shortest round-trip repr, so reloaded features are bit-identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from MIRVLib.batch.manifest import ManifestRow
from MIRVLib.provenance import atomic_write_json, hash_settings

STORE_FORMAT = 1
FAILURE_COLUMNS = ["PatientID", "LesionID", "Stage", "Reason"]


@dataclass
class PatientResult:
    """Everything a batch run keeps about one patient.

    ``lesions`` has one row per baseline lesion (feature-table columns incl. ``Status``); ``follow_up`` one
    row per follow-up lesion (``LesionID, VolumeFollowUp, Status``) or None; ``failures`` are rows of
    failures.csv. ``transient`` marks failures of the machinery (a lost worker), which are reported but
    never stored, so the next ``--resume`` retries the patient.
    """

    patient_id: str
    lesions: pd.DataFrame
    follow_up: pd.DataFrame | None = None
    failures: list[dict[str, str]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    transient: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.failures)


def input_fingerprint(row: ManifestRow) -> dict[str, Any]:
    """Path, size and modification time of every input (cheap; hashing every CT on resume is not)."""
    def stat(path: Path) -> list[Any]:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        stats = [f.stat() for f in files if f.exists()]
        return [len(stats), sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0)]
    return {name: [str(path), *stat(path)] for name, path in row.input_paths().items()}


class ResultStore:
    """Per-patient JSON files in ``DIR/patients`` keyed by ``settings_hash`` and the input fingerprint."""

    def __init__(self, out_dir: str | os.PathLike[str], settings_hash: str):
        self.folder = Path(out_dir) / "patients"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.settings_hash = settings_hash
        for stale in self.folder.glob(".*.tmp"):  # left by a killed run; never a complete result
            stale.unlink(missing_ok=True)

    def key(self, row: ManifestRow) -> str:
        return hash_settings({"settings": self.settings_hash, "patient": row.patient_id,
                              "inputs": input_fingerprint(row), "format": STORE_FORMAT})

    def path_for(self, patient_id: str) -> Path:
        """A file name safe on every OS; the hash suffix keeps IDs like ``a/b`` and ``a_b`` apart."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", patient_id).strip("._")[:80] or "patient"
        return self.folder / f"{safe}-{hashlib.sha256(patient_id.encode()).hexdigest()[:8]}.json"

    def load(self, row: ManifestRow) -> PatientResult | None:
        """The stored result of ``row`` if it is complete and was made with the same key, else None."""
        path = self.path_for(row.patient_id)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if record.get("key") != self.key(row) or record.get("patientId") != row.patient_id:
            return None
        return PatientResult(
            patient_id=record["patientId"],
            lesions=_frame_from_json(record["lesions"]),
            follow_up=_frame_from_json(record["followUp"]) if record.get("followUp") else None,
            failures=record.get("failures", []),
            provenance=record.get("provenance", {}),
        )

    def save(self, row: ManifestRow, result: PatientResult) -> Path:
        if result.transient:
            raise ValueError(f"patient {row.patient_id}: transient failures are not stored")
        record = {
            "format": STORE_FORMAT,
            "patientId": row.patient_id,
            "key": self.key(row),
            "settingsHash": self.settings_hash,
            "lesions": _frame_to_json(result.lesions),
            "followUp": _frame_to_json(result.follow_up) if result.follow_up is not None else None,
            "failures": result.failures,
            "provenance": result.provenance,
        }
        # Compact: these files are read by machines, and the batch client writes one per finished patient
        # while the workers compute (indented JSON goes through json's pure-Python encoder).
        return atomic_write_json(self.path_for(row.patient_id), record, indent=None)


def _native(value: Any) -> Any:
    """JSON-ready scalar; numpy scalars and 0-d arrays become Python numbers (exact repr round trip)."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    return value


def _frame_to_json(frame: pd.DataFrame) -> dict[str, Any]:
    # to_numpy(object) turns numeric columns into Python numbers in one pass; itertuples on a 1218-column
    # frame indexes every column separately and cost the client more CPU than the rest of its batch work.
    return {"columns": [str(c) for c in frame.columns],
            "rows": [[_native(v) for v in row] for row in frame.to_numpy(dtype=object).tolist()]}


def _frame_from_json(payload: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(payload["rows"], columns=payload["columns"])
