"""Does a fitted MIRV model fit the lesions it is asked to score?

A model is only meaningful for features extracted with the parameters it was fitted on (the same feature name
from binWidth 5 instead of 25 is a different number) and for lesions like those of its fitting cohort (the
shipped SARC021 models saw lung metastases only). Fitting records both — the extraction preset's name and
parameter hash, the input feature names (count and hash), the lesion sites with counts — next to the cohort size
and versions the model already carries. Scoring compares the input against that record: a different preset hash
or sites the model never saw become warnings (the ``Warnings`` column, the readout, the console), or an
`ApplicabilityError` in strict mode.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from MIRVLib.commands.extract import PROVENANCE_SUFFIX
from MIRVLib.lesion_table import PATIENT_ID, SITE, LesionTable
from MIRVLib.provenance import sha256_bytes
from MIRVLib.reduction import FeatureReduction

UNKNOWN_SITE = "unknown"
SIDECAR_SUFFIX = PROVENANCE_SUFFIX  # what `mirv extract` writes next to its lesion table


class ApplicabilityError(ValueError):
    """Strict mode: the input does not match what the model was fitted on."""


@dataclass
class Applicability:
    """Warnings for the whole input (``cohort``) and per patient (``patients``: PatientID → messages)."""

    cohort: list[str] = field(default_factory=list)
    patients: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.cohort and not self.patients

    def messages(self) -> list[str]:
        return [*self.cohort, *(f"patient {p}: {m}" for p, ms in self.patients.items() for m in ms)]


def normalised_site(site: Any) -> str:
    text = "" if site is None else str(site).strip().lower()
    return text if text and text != "nan" else UNKNOWN_SITE


def site_counts(table: LesionTable) -> dict[str, int]:
    sites = table.frame[SITE] if SITE in table.frame else [None] * table.num_lesions
    return dict(sorted(Counter(normalised_site(site) for site in sites).items()))


def preset_record(preset: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``{"name", "sha256"}`` of an extraction preset as the extraction provenance records it (sha256 of the
    preset file, i.e. of its parameters)."""
    if not preset or not preset.get("sha256"):
        return None
    return {"name": str(preset.get("name", "")), "sha256": str(preset["sha256"])}


def sidecar_preset(features_path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The extraction preset recorded in a lesion table's provenance sidecar (``mirv extract``), if any."""
    path = Path(str(features_path) + SIDECAR_SUFFIX)
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    return preset_record((record.get("extraction") or {}).get("preset"))


def fit_record(table: LesionTable, extraction_preset: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a model is fitted on, stored in the model's ``cohort`` record (cohort size and versions are already
    there): input feature names (count, hash), lesion sites with counts and the extraction preset."""
    names = json.dumps(table.feature_names).encode()
    return {
        "inputFeatures": {"count": len(table.feature_names), "sha256": sha256_bytes(names)},
        "sites": site_counts(table),
        "extractionPreset": preset_record(extraction_preset),
    }


def check(model: FeatureReduction, table: LesionTable, extraction_preset: Mapping[str, Any] | None) -> Applicability:
    """Compare the input against the model's fit record (what the record does not hold is not checked)."""
    found = Applicability()
    fitted = preset_record(model.cohort.get("extractionPreset"))
    given = preset_record(extraction_preset)
    if fitted and given and given["sha256"] != fitted["sha256"]:
        found.cohort.append(
            f"features extracted with preset {given['name']!r} (sha256 {given['sha256'][:12]}…), but the model was "
            f"fitted on preset {fitted['name']!r} (sha256 {fitted['sha256'][:12]}…): the values are not comparable"
        )
    known = {normalised_site(s) for s in model.cohort.get("sites", {})} - {UNKNOWN_SITE}
    if known and SITE in table.frame:
        for patient, sites in table.frame.groupby(PATIENT_ID, sort=False)[SITE]:
            unseen = sorted({normalised_site(s) for s in sites} - known - {UNKNOWN_SITE})
            if unseen:
                fitted_on = ", ".join(f"{s} {n}" for s, n in model.cohort["sites"].items())
                found.patients[str(patient)] = [
                    f"lesion site(s) {', '.join(unseen)} not in the model's fitting cohort ({fitted_on} lesions)"
                ]
    return found


def enforce(found: Applicability, strict: bool) -> None:
    if strict and not found.ok:
        raise ApplicabilityError("the model does not fit the input (--strict): " + "; ".join(found.messages()))
