"""Score a cohort end to end: reduce features, MIRV per patient, baseline volumes and response, write it all.

This is the one entry point the CLI, the Slicer module and the batch runs share. With an unfitted
reduction it is fitted on the given lesions (the paper's cohort setting); with a fitted one (e.g. a shipped
model) the lesions are only transformed, so a single patient can be scored on its own.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from MIRVLib.lesion_table import LESION_ID, PATIENT_ID, VOLUME_FEATURE, LesionTable
from MIRVLib.metrics import (
    MATRICES, PatientMIRV, ProgressCallback, coefficient_of_variation, cohort_mirv, summary_columns,
)
from MIRVLib.provenance import atomic_write_csv, atomic_write_json
from MIRVLib.reduction import FeatureReduction
from MIRVLib.response import (
    DEFAULT_RESPONSE_THRESHOLD,
    MissingFollowUp,
    baseline_volume_metrics,
    volume_response,
)

log = logging.getLogger(__name__)

BASELINE_COLUMNS = ["BaselineVolumeRange", "BaselineVolumeStdDev", "BaselineVolumeTotal"]
RESPONSE_COLUMNS = ["VolumeChangeRange", "CompleteTumorResponse"]
REFERENCE_METRICS = ("MIRVMaxDissimilarity", "MIRVMaxDistance", "MIRVMeanDissimilarity", "MIRVMeanDistance")


@dataclass
class CohortResult:
    """Everything one cohort run produced; `write_cohort` turns it into files."""

    reduction: FeatureReduction
    patients: pd.DataFrame
    mirv: list[PatientMIRV]
    variation: pd.DataFrame
    lesion_changes: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)


def score_cohort(
    table: LesionTable,
    reduction: FeatureReduction,
    volumes: pd.DataFrame | None = None,
    *,
    response_threshold: float = DEFAULT_RESPONSE_THRESHOLD,
    missing_followup: MissingFollowUp = "unmeasured",
    candidates: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
) -> CohortResult:
    """Fit (if needed, optionally on ``candidates`` only) and apply the reduction, then per-patient MIRV,
    percentiles in the model's reference cohort, volume and response metrics."""
    warnings: list[str] = []
    fitting = not reduction.is_fitted
    if candidates is not None and not fitting:
        raise ValueError("a candidate feature list only applies when fitting; this reduction is already fitted")
    if fitting:
        if progress:
            progress(0.0, f"fitting the {reduction.settings.preset} feature reduction")
        reduction.fit(table, candidates)
    scaled = reduction.transform(table)
    results = cohort_mirv(scaled, progress)
    patients = pd.DataFrame([r.summary() for r in results]).set_index(PATIENT_ID)
    if fitting:  # the fitting cohort becomes the model's reference for percentiles of new patients
        reduction.reference = {m: sorted(patients[m].dropna().astype(float)) for m in REFERENCE_METRICS}
    for metric in REFERENCE_METRICS[:2]:
        patients[f"{metric}Percentile"] = reduction.percentile(metric, patients[metric].to_numpy(dtype=float))
    variation = coefficient_of_variation(table.features)
    patients["MeanAbsCoefficientOfVariation"] = variation.mean(axis=1, skipna=True).reindex(patients.index)

    changes = None
    if volumes is not None:
        changes, response = volume_response(volumes, threshold=response_threshold, missing_followup=missing_followup)
        unknown = sorted(set(response.index) - set(patients.index))
        if unknown:
            warnings.append(f"{len(unknown)} patient(s) in the volume table have no lesion features: {unknown[:5]}")
        patients = patients.join(response, how="left")
    elif VOLUME_FEATURE in table.feature_names:
        baseline = table.frame.set_index(PATIENT_ID)[VOLUME_FEATURE]
        patients = patients.join(baseline_volume_metrics(baseline), how="left")
    else:
        warnings.append(f"no volume table and no {VOLUME_FEATURE} feature: baseline volume metrics left empty")
    for column in BASELINE_COLUMNS + (RESPONSE_COLUMNS if volumes is not None else []):
        if column not in patients:
            patients[column] = np.nan
    missing = patients.index[patients["BaselineVolumeTotal"].isna()].tolist()
    if missing:
        warnings.append(f"{len(missing)} patient(s) without baseline volumes: {missing[:5]}")
    patients["Warnings"] = [" ; ".join(r.warnings) for r in results]
    for message in warnings:
        log.warning(message)
    return CohortResult(reduction, _ordered(patients.reset_index(), volumes is not None), results, variation, changes, warnings)


def _ordered(patients: pd.DataFrame, with_response: bool) -> pd.DataFrame:
    """The documented patients.csv column order first, extra columns after."""
    head = summary_columns() + BASELINE_COLUMNS + (RESPONSE_COLUMNS if with_response else [])
    tail = [c for c in patients.columns if c not in head]
    patients = patients[head + tail].copy()
    if with_response:
        patients["CompleteTumorResponse"] = patients["CompleteTumorResponse"].astype("Int64")
    return patients


def safe_file_stem(patient_id: str) -> str:
    """A patient id usable as a file name on every OS (ids like 'TH-CR-040601' pass through unchanged)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", patient_id) or "_"


def write_cohort(result: CohortResult, out_dir: str | os.PathLike[str], provenance: dict[str, Any]) -> Path:
    """patients.csv, model.json, selected_features.csv, matrices/, feature_variation.csv, provenance.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(out / "patients.csv", result.patients)
    result.reduction.save(out / "model.json")
    reduction = result.reduction
    atomic_write_csv(out / "selected_features.csv", pd.DataFrame({
        "Order": np.arange(1, len(reduction.selected) + 1), "Feature": reduction.selected,
        "Mean": reduction.mean, "Std": reduction.std,
    }))
    matrices = out / "matrices"
    used: set[str] = set()
    for patient in result.mirv:
        stem = base = safe_file_stem(patient.patient_id)
        suffix = 1
        while stem in used:  # two ids that differ only in unsafe characters stay two files
            suffix += 1
            stem = f"{base}_{suffix}"
        used.add(stem)
        for matrix in MATRICES:
            frame = patient.frame(matrix).rename_axis(LESION_ID)
            atomic_write_csv(matrices / f"{stem}_{matrix}.csv", frame, index=True)
    atomic_write_csv(out / "feature_variation.csv", result.variation, index=True)
    if result.lesion_changes is not None:
        atomic_write_csv(out / "lesion_volume_changes.csv", result.lesion_changes)
    atomic_write_json(out / "provenance.json", {**provenance, "warnings": result.warnings})
    return out
