"""Baseline tumour burden and volumetric response per patient (MIRV paper, lung subset).

Per lesion: % change = (V_follow-up − V_baseline) / V_baseline × 100. Per patient: baseline range, std
(ddof 1) and total; the spread of per-lesion changes (``VolumeChangeRange``, the paper's "Δ Volume") = max −
min of the lesion changes, in percentage points — not a change of the tumour volume; the total-burden change
(``TotalBurdenChangePercent``) = Σ follow-up / Σ baseline − 1, in %; Complete Tumour Response (TSRC) = 1 when
every lesion responds. The paper words that threshold twice (docs/methods.md): its Methods read "the change does
not exceed" +33 % (``reading="methods"``, the default: change < 33; 43 of the 85 SARC021 lung patients with MIRV
respond), its Results "met a 33 % volume reduction" (``reading="results"``: change <= −33; 6 of 85).

Lesions seen at one time point only follow the authors' ±100 % rule and are flagged: a lesion gone at
follow-up (volume 0) is −100 %, a new lesion (no baseline) is +100 %. A *missing* follow-up volume (empty
cell) is ambiguous. By default (``missing_followup="unmeasured"``) it is handled as the published code
effectively did — the lesion has no % change, does not enter Δ Volume, and its patient cannot be a complete
responder; this reproduces the published SARC021 correlations (ρ 0.513 / −0.324). ``"disappeared"``
applies −100 % instead (what the authors' code comment intended).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from MIRVLib.lesion_table import ID_COLUMNS, LESION_ID, PATIENT_ID, validated_ids
from MIRVLib.options import (
    DEFAULT_RESPONSE_READING,
    DEFAULT_RESPONSE_THRESHOLD,
    MISSING_FOLLOWUP_POLICIES,
    RESPONSE_READINGS,
    MissingFollowUp,
    ResponseReading,
)

BASELINE = "VolumeBaseline"
FOLLOW_UP = "VolumeFollowUp"
VOLUME_COLUMNS = (*ID_COLUMNS, BASELINE, FOLLOW_UP)

# Lesion status values (the flag written next to each % change).
MATCHED, DISAPPEARED, NEW, UNMEASURED, ABSENT = "matched", "disappeared", "new", "unmeasured", "absent"


class VolumeTableError(ValueError):
    """The volume table cannot be used; the message names the file and lesion."""


def validate_volumes(frame: pd.DataFrame, *, source: str = "<volumes>") -> pd.DataFrame:
    """Ids as text, volumes as non-negative floats (empty = not measured), no duplicate lesions."""
    missing = [c for c in VOLUME_COLUMNS if c not in frame.columns]
    if missing:
        raise VolumeTableError(f"{source}: missing column(s) {missing}; expected {list(VOLUME_COLUMNS)}")
    out = frame[list(VOLUME_COLUMNS)].copy().reset_index(drop=True)
    out[list(ID_COLUMNS)] = validated_ids(out[list(ID_COLUMNS)], source, VolumeTableError)
    for column in (BASELINE, FOLLOW_UP):
        numeric = pd.to_numeric(out[column], errors="coerce").astype(float)
        bad = (numeric.isna() & out[column].notna()) | (numeric < 0) | np.isinf(numeric)
        if bad.any():
            row = out.loc[bad].iloc[0]
            raise VolumeTableError(
                f"{source}: {column} must be a non-negative number or empty; patient {row[PATIENT_ID]} "
                f"lesion {row[LESION_ID]} has {str(row[column])!r} ({int(bad.sum())} bad value(s))"
            )
        out[column] = numeric
    return out


def read_volumes(path: str | os.PathLike[str]) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"volume table not found: {path}")
    try:
        frame = pd.read_csv(path, dtype={PATIENT_ID: str, LESION_ID: str}, float_precision="round_trip")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise VolumeTableError(f"{path}: not a readable CSV ({error})") from error
    return validate_volumes(frame, source=str(path))


def matched_volumes(patient_id: str, baseline: pd.Series, follow_up: pd.Series | None) -> pd.DataFrame:
    """One patient's volume rows, lesions matched by name between time points.

    ``baseline`` and ``follow_up`` hold volumes indexed by LesionID (NaN: extraction failed there, so
    unmeasured). A lesion missing from one time point has volume 0 there: gone at follow-up (−100 %) or new
    (+100 %), the authors' rule. Without a follow-up time point (None) the follow-up volumes are empty, so
    the baseline metrics are still reported.
    """
    if follow_up is None:
        base, follow = baseline, pd.Series(np.nan, index=baseline.index)
    else:  # reindex fills only the lesions missing at a time point; failed ones stay NaN
        base = baseline.reindex(baseline.index.union(follow_up.index, sort=False), fill_value=0.0)
        follow = follow_up.reindex(base.index, fill_value=0.0)
    return validate_volumes(pd.DataFrame({
        PATIENT_ID: patient_id, LESION_ID: base.index, BASELINE: base.to_numpy(float), FOLLOW_UP: follow.to_numpy(float),
    }), source=f"patient {patient_id} volumes")


def lesion_volume_changes(volumes: pd.DataFrame, missing_followup: MissingFollowUp = "unmeasured") -> pd.DataFrame:
    """Per lesion: PercentChange and Status (matched / disappeared / new / unmeasured / absent)."""
    if missing_followup not in MISSING_FOLLOWUP_POLICIES:
        raise ValueError(f"missing_followup must be one of {MISSING_FOLLOWUP_POLICIES}, got {missing_followup!r}")
    base = volumes[BASELINE].to_numpy(dtype=float)
    follow = volumes[FOLLOW_UP].to_numpy(dtype=float)
    has_base = np.isfinite(base) & (base > 0)
    has_follow = np.isfinite(follow)
    with np.errstate(invalid="ignore", divide="ignore"):
        change = (follow - base) / base * 100.0
    status = np.full(len(volumes), MATCHED, dtype=object)
    gone = has_base & has_follow & (follow == 0)
    new = ~has_base & has_follow & (follow > 0)
    unmeasured = has_base & ~has_follow
    absent = ~has_base & ~(has_follow & (follow > 0))
    status[gone], status[new], status[unmeasured], status[absent] = DISAPPEARED, NEW, UNMEASURED, ABSENT
    change[gone] = -100.0
    change[new] = 100.0
    change[unmeasured] = -100.0 if missing_followup == "disappeared" else np.nan
    change[absent] = np.nan
    out = volumes[list(VOLUME_COLUMNS)].copy()
    out["PercentChange"] = change
    out["Status"] = status
    out["OneTimePointOnly"] = gone | new | (unmeasured & (missing_followup == "disappeared"))
    return out


def baseline_volume_metrics(baseline: pd.Series) -> pd.DataFrame:
    """BaselineVolumeRange (max − min), BaselineVolumeStdDev (ddof 1), BaselineVolumeTotal per patient.

    ``baseline`` is indexed by PatientID (one value per lesion); lesions without a baseline volume are ignored.
    """
    grouped = baseline[np.isfinite(baseline.to_numpy(dtype=float)) & (baseline > 0)].groupby(level=0, sort=False)
    out = pd.DataFrame({
        "BaselineVolumeRange": grouped.max() - grouped.min(),
        "BaselineVolumeStdDev": grouped.std(ddof=1),
        "BaselineVolumeTotal": grouped.sum(),
    })
    out.index.name = PATIENT_ID
    return out


def lesion_responds(change: pd.Series, threshold: float = DEFAULT_RESPONSE_THRESHOLD,
                    reading: ResponseReading = DEFAULT_RESPONSE_READING) -> pd.Series:
    """Per lesion: does its % change count as a response? ``methods``: it stays below +threshold (strict, as the
    published code); ``results``: it shrank by at least threshold %. An unmeasured change (NaN) never responds."""
    if reading == "methods":
        return change < threshold
    if reading == "results":
        return change <= -threshold
    raise ValueError(f"response reading must be one of {RESPONSE_READINGS}, got {reading!r}")


def response_rule(threshold: float = DEFAULT_RESPONSE_THRESHOLD,
                  reading: ResponseReading = DEFAULT_RESPONSE_READING) -> str:
    """The complete-response rule in words, for summaries (the reading decides 43 vs 6 of 85 SARC021 responders)."""
    rules = {"methods": f"< +{threshold:g} %", "results": f"<= -{threshold:g} %"}
    if reading not in rules:
        raise ValueError(f"response reading must be one of {RESPONSE_READINGS}, got {reading!r}")
    lesion_rule = rules[reading]
    return f"{reading} reading, every lesion's volume change {lesion_rule}"


def patient_response(changes: pd.DataFrame, threshold: float = DEFAULT_RESPONSE_THRESHOLD,
                     reading: ResponseReading = DEFAULT_RESPONSE_READING) -> pd.DataFrame:
    """VolumeChangeRange (spread of the lesion changes), total burden at follow-up and its change,
    CompleteTumorResponse (TSRC) and counts of flagged lesions per patient.

    The follow-up total counts new lesions and is undefined (NaN) when a lesion was not measured at follow-up.
    """
    counted = changes[changes["Status"] != ABSENT]
    by_patient = counted.groupby(PATIENT_ID, sort=False)["PercentChange"]
    # An unmeasured lesion (NaN) does not respond: its patient is not a complete responder.
    below = lesion_responds(counted["PercentChange"], threshold, reading).groupby(counted[PATIENT_ID], sort=False).all()
    flags = changes.groupby(PATIENT_ID, sort=False)
    unmeasured = (changes["Status"] == UNMEASURED).groupby(changes[PATIENT_ID], sort=False).sum()
    baseline_total = changes[BASELINE].where(changes[BASELINE] > 0).groupby(changes[PATIENT_ID], sort=False).sum()
    follow_up_total = flags[FOLLOW_UP].sum().where(unmeasured == 0)
    return pd.DataFrame({
        "VolumeChangeRange": by_patient.max() - by_patient.min(),
        "FollowUpVolumeTotal": follow_up_total,
        "TotalBurdenChangePercent": (follow_up_total / baseline_total.where(baseline_total > 0) - 1.0) * 100.0,
        "CompleteTumorResponse": below.astype(int),
        "NumLesionsOneTimePoint": flags["OneTimePointOnly"].sum().astype(int),
        "NumLesionsUnmeasured": unmeasured,
    })


def lesions_missing_from_volumes(lesions: pd.DataFrame, volumes: pd.DataFrame) -> dict[str, list[str]]:
    """Per patient with rows in the volume table: its lesions (PatientID/LesionID rows of ``lesions``) that
    have none there.

    Such a patient's volume metrics would silently cover only the listed lesions (total baseline 15,144 →
    2,692 in the report that found it), so the caller treats them as unmeasured and says which lesions.
    """
    listed = set(zip(volumes[PATIENT_ID].astype(str), volumes[LESION_ID].astype(str)))
    with_volumes = {patient for patient, _ in listed}
    missing: dict[str, list[str]] = {}
    for patient, lesion in zip(lesions[PATIENT_ID].astype(str), lesions[LESION_ID].astype(str)):
        if patient in with_volumes and (patient, lesion) not in listed:
            missing.setdefault(patient, []).append(lesion)
    return missing


def volume_response(
    volumes: pd.DataFrame,
    *,
    threshold: float = DEFAULT_RESPONSE_THRESHOLD,
    missing_followup: MissingFollowUp = "unmeasured",
    reading: ResponseReading = DEFAULT_RESPONSE_READING,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-lesion changes, per-patient baseline metrics + response) from a validated volume table."""
    changes = lesion_volume_changes(volumes, missing_followup)
    baseline = baseline_volume_metrics(volumes.set_index(PATIENT_ID)[BASELINE])
    patients = baseline.join(patient_response(changes, threshold, reading), how="outer")
    order = list(dict.fromkeys(volumes[PATIENT_ID]))
    return changes, patients.reindex(order)
