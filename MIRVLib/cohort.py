"""Score a cohort end to end: reduce features, MIRV per patient, baseline volumes and response, write it all.

This is the one entry point the CLI, the Slicer module and the batch runs share. With an unfitted
reduction it is fitted on the given lesions (the paper's cohort setting); with a fitted one (e.g. a shipped
model) the lesions are only transformed, so a single patient can be scored on its own.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from MIRVLib import applicability
from MIRVLib.file_names import file_name_record, file_stems
from MIRVLib.harmonisation import ComBat, harmonise_table
from MIRVLib.lesion_table import LESION_ID, PATIENT_ID, SITE, VOLUME_FEATURE, LesionTable
from MIRVLib.metrics import (
    MATRICES,
    PatientMIRV,
    ProgressCallback,
    coefficient_of_variation,
    cohort_mirv,
    summary_columns,
)
from MIRVLib.options import DEFAULT_RESPONSE_READING, ResponseReading
from MIRVLib.patient_report import UNKNOWN_SITE, site_counts
from MIRVLib.provenance import atomic_write_csv, atomic_write_json
from MIRVLib.reduction import FeatureReduction
from MIRVLib.response import (
    DEFAULT_RESPONSE_THRESHOLD,
    MissingFollowUp,
    baseline_volume_metrics,
    lesions_missing_from_volumes,
    response_rule,
    volume_response,
)
from MIRVLib.stats.summary import console_block, format_interval

log = logging.getLogger(__name__)

BASELINE_COLUMNS = ["BaselineVolumeRange", "BaselineVolumeStdDev", "BaselineVolumeTotal"]
RESPONSE_COLUMNS = ["VolumeChangeRange", "CompleteTumorResponse", "FollowUpVolumeTotal", "TotalBurdenChangePercent"]
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
    response_rule: str = ""  # the complete-response rule applied (empty without follow-up volumes)


def score_cohort(
    table: LesionTable,
    reduction: FeatureReduction,
    volumes: pd.DataFrame | None = None,
    *,
    response_threshold: float = DEFAULT_RESPONSE_THRESHOLD,
    missing_followup: MissingFollowUp = "unmeasured",
    response_reading: ResponseReading = DEFAULT_RESPONSE_READING,
    candidates: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    extraction_preset: Mapping[str, Any] | None = None,
    strict: bool = False,
    harmonise: ComBat | None = None,
    batches: pd.DataFrame | None = None,
) -> CohortResult:
    """Fit (if needed, optionally on ``candidates`` only) and apply the reduction, then per-patient MIRV,
    percentiles in the model's reference cohort, volume and response metrics.

    ``harmonise`` (an unfitted `ComBat`, when fitting) is fitted on all features and applied before the reduction;
    the model keeps it for its selected features, and a model that has one harmonises every table it scores.
    ``batches`` holds each lesion's batch/covariate values (`MIRVLib.harmonisation.read_lesions_with_batch`).
    Volumes and feature variation are always computed on the features as measured.

    ``extraction_preset`` (``{"name", "sha256"}`` from the extraction provenance) is recorded in a model fitted
    here, and checked against an already fitted one together with the lesion sites (`MIRVLib.applicability`):
    a mismatch is a warning, with ``strict`` an `ApplicabilityError`."""
    warnings: list[str] = []
    fitting = not reduction.is_fitted
    if candidates is not None and not fitting:
        raise ValueError("a candidate feature list only applies when fitting; this reduction is already fitted")
    fit_check = applicability.Applicability()
    reduced = _harmonised(table, reduction, harmonise, batches)
    if fitting:
        if progress:
            progress(0.0, f"fitting the {reduction.settings.preset} feature reduction")
        reduction.fit(reduced, candidates)
        if harmonise is not None:
            reduction.harmonisation = harmonise.subset(reduction.selected)
        reduction.cohort.update(applicability.fit_record(table, extraction_preset))
    else:
        fit_check = applicability.check(reduction, table, extraction_preset)
        applicability.enforce(fit_check, strict)
        warnings += fit_check.cohort
        if fit_check.patients:
            unseen = list(fit_check.patients)
            warnings.append(f"{len(unseen)} patient(s) with lesion sites the model was not fitted on: {unseen[:5]}")
    scaled = reduction.transform(reduced)
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
        changes, response = volume_response(volumes, threshold=response_threshold, missing_followup=missing_followup,
                                            reading=response_reading)
        unknown = sorted(set(response.index) - set(patients.index))
        if unknown:
            warnings.append(f"{len(unknown)} patient(s) in the volume table have no lesion features: {unknown[:5]}")
        patients = patients.join(response, how="left")
        incomplete = lesions_missing_from_volumes(table.frame, volumes)
        for patient, lesions in incomplete.items():
            warnings.append(f"patient {patient}: lesion(s) {', '.join(lesions)} missing from the volume table; "
                            "the patient's volume metrics are left unmeasured")
        patients.loc[list(incomplete), [c for c in BASELINE_COLUMNS + RESPONSE_COLUMNS if c in patients]] = np.nan
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
    patients["Warnings"] = [" ; ".join([*fit_check.cohort, *fit_check.patients.get(r.patient_id, []), *r.warnings])
                            for r in results]
    if SITE in table.frame:
        patients = patients.join(site_columns(table), how="left")
    for message in warnings:
        log.warning(message)
    rule = response_rule(response_threshold, response_reading) if volumes is not None else ""
    return CohortResult(reduction, _ordered(patients.reset_index(), volumes is not None), results, variation, changes, warnings,
                        rule)


def cohort_summary(result: CohortResult, model: str | None = None) -> str:
    """The console summary of a cohort run: patients, MIRV distribution, responders, warnings, reduction used.

    ``model``: the model name or file the reduction was loaded from (None = fitted on this cohort)."""
    patients = result.patients
    with_mirv = patients["MIRVMaxDistance"].notna()
    facts: dict[str, Any] = {"patients": len(patients), "with >= 2 lesions": int((patients["NumLesions"] >= 2).sum()),
                             "with MIRV": int(with_mirv.sum())}
    if "CompleteTumorResponse" in patients:
        response = patients["CompleteTumorResponse"]
        counts = [f"{int(r.sum())} of {int(r.notna().sum())}" for r in (response, response[with_mirv])]
        facts["responders"] = f"{counts[0]} ({counts[1]} with MIRV)"
    facts["warnings"] = len(result.warnings)
    facts["patients with warnings"] = int((patients["Warnings"] != "").sum())
    rows = {}
    for metric in REFERENCE_METRICS:
        values = patients[metric].dropna().astype(float)
        rows[metric] = {"n": len(values), "median": values.median(),
                        "IQR": format_interval(values.quantile(0.25), values.quantile(0.75)), "max": values.max()}
    reduction = result.reduction
    steps = " -> ".join(str(reduction.step_counts[k]) for k in ("input", "varianceAndVolume", "selected")
                        if k in reduction.step_counts)
    used = f"model {model}" if model else "fitted on this cohort"
    note = f"reduction: {reduction.settings.preset} ({used}); features {steps or len(reduction.selected)}"
    if result.response_rule:
        note += f"\n  response: {result.response_rule}"
    return console_block("MIRV cohort", facts, pd.DataFrame.from_dict(rows, orient="index"), note=note)


def _harmonised(table: LesionTable, reduction: FeatureReduction, harmonise: ComBat | None,
                batches: pd.DataFrame | None) -> LesionTable:
    """The lesions the reduction sees: ComBat-harmonised when fitting with ``harmonise`` or when the model has one."""
    combat = harmonise if not reduction.is_fitted else reduction.harmonisation
    if harmonise is not None and reduction.is_fitted:
        raise ValueError("a new harmonisation only applies when fitting; a fitted model brings its own (if any)")
    if combat is None:
        return table
    if batches is None:
        raise ValueError(f"{table.source}: the harmonisation needs each lesion's {combat.batch!r}"
                         + (f" and covariates {list(combat.covariates)}" if combat.covariates else "")
                         + " (a column of the feature table or a batch table)")
    return harmonise_table(table, combat, batches, fit=not reduction.is_fitted)


def site_columns(table: LesionTable) -> pd.DataFrame:
    """NumSites (known sites) and NumLesions_<site> per patient — the columns the Slicer module's export has too."""
    rows = {}
    for patient, sites in table.frame.groupby(PATIENT_ID, sort=False)[SITE]:
        counts = site_counts(sites)
        row: dict[str, int] = {"NumSites": len([s for s in counts if s != UNKNOWN_SITE])}
        row.update({f"NumLesions_{site_column_suffix(site)}": n for site, n in counts.items()})
        rows[patient] = row
    columns = pd.DataFrame.from_dict(rows, orient="index").fillna(0).astype(int)
    columns.index.name = PATIENT_ID
    return columns


def site_column_suffix(site: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", site.strip()).strip("_") or UNKNOWN_SITE


def _ordered(patients: pd.DataFrame, with_response: bool) -> pd.DataFrame:
    """The documented patients.csv column order first, extra columns after."""
    head = summary_columns() + BASELINE_COLUMNS + (RESPONSE_COLUMNS if with_response else [])
    tail = [c for c in patients.columns if c not in head]
    patients = patients[head + tail].copy()
    if with_response:
        patients["CompleteTumorResponse"] = patients["CompleteTumorResponse"].astype("Int64")
    return patients


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
    for patient, stem in zip(result.mirv, file_stems([p.patient_id for p in result.mirv])):
        for matrix in MATRICES:
            frame = patient.frame(matrix).rename_axis(LESION_ID)
            atomic_write_csv(matrices / f"{stem}_{matrix}.csv", frame, index=True)
    atomic_write_csv(out / "feature_variation.csv", result.variation, index=True)
    if result.lesion_changes is not None:
        atomic_write_csv(out / "lesion_volume_changes.csv", result.lesion_changes)
    atomic_write_json(out / "provenance.json", {
        **provenance, "warnings": result.warnings,
        "fileNames": file_name_record(patient.patient_id for patient in result.mirv),  # matrices/ of unsafe IDs
    })
    return out
