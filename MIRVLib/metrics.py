"""MIRV metrics: how far apart one patient's lesions are in the reduced, z-scored feature space.

For every pair of lesions: cosine dissimilarity 1 − cos(Li, Lj) (0–2; direction only) and Euclidean
distance ‖Li − Lj‖ (direction and magnitude). MIRV(max) is the largest pair (Geady et al. eq. 1–2); mean,
median and population std over pairs are the authors' sensitivity summaries. Pairwise matrices are computed
with array operations, never a Python loop over pairs. Undefined cases are NaN with a reason, never 0:
a one-lesion patient has no MIRV; a lesion whose vector is all zeros has no direction, hence no cosine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], None]
PAIR_SEPARATOR = "|"
# The two pairwise matrices of a patient (field names of PatientMIRV).
MATRICES = ("dissimilarity", "distance")
_STATS = ("Max", "Mean", "Median", "Std")


@dataclass(frozen=True)
class PatientMIRV:
    """One patient's pairwise matrices and their summaries."""

    patient_id: str
    lesion_ids: tuple[str, ...]
    dissimilarity: np.ndarray
    distance: np.ndarray
    undefined_reason: str | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def num_lesions(self) -> int:
        return len(self.lesion_ids)

    def frame(self, matrix: str) -> pd.DataFrame:
        """The ``"dissimilarity"`` or ``"distance"`` matrix labelled with the lesion IDs."""
        if matrix not in MATRICES:
            raise ValueError(f"matrix must be one of {list(MATRICES)}, got {matrix!r}")
        return pd.DataFrame(getattr(self, matrix), index=list(self.lesion_ids), columns=list(self.lesion_ids))

    def summary(self) -> dict[str, Any]:
        """The patients.csv row: NumLesions, MIRV{Max,Mean,Median,Std}{Dissimilarity,Distance}, divergent pairs."""
        row: dict[str, Any] = {"PatientID": self.patient_id, "NumLesions": self.num_lesions}
        for name, matrix in (("Dissimilarity", self.dissimilarity), ("Distance", self.distance)):
            stats, pair = _pair_summary(matrix, self.lesion_ids)
            for stat, value in zip(_STATS, stats):
                row[f"MIRV{stat}{name}"] = value
            row[f"MostDivergentPair{name}"] = pair
        row["MIRVUndefinedReason"] = self.undefined_reason or ""
        return row


def summary_columns() -> list[str]:
    """Column order of the per-patient summary (what patients.csv starts with)."""
    stats = [f"MIRV{stat}{name}" for stat in _STATS for name in ("Dissimilarity", "Distance")]
    return ["PatientID", "NumLesions", *stats, "MostDivergentPairDissimilarity", "MostDivergentPairDistance"]


def patient_mirv(patient_id: str, vectors: pd.DataFrame | np.ndarray, lesion_ids: list[str] | None = None) -> PatientMIRV:
    """Pairwise cosine dissimilarity and Euclidean distance of one patient's lesion vectors (rows)."""
    if isinstance(vectors, pd.DataFrame):
        lesion_ids = lesion_ids or [str(i[-1]) if isinstance(i, tuple) else str(i) for i in vectors.index]
        values = vectors.to_numpy(dtype=float)
    else:
        values = np.asarray(vectors, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"patient {patient_id}: lesion vectors must be a 2-D array, got shape {values.shape}")
    n = values.shape[0]
    ids = tuple(lesion_ids) if lesion_ids is not None else tuple(f"L{i + 1:02d}" for i in range(n))
    if len(ids) != n:
        raise ValueError(f"patient {patient_id}: {len(ids)} lesion ids for {n} lesion vectors")
    difference = values[:, None, :] - values[None, :, :]
    distance = np.sqrt(np.einsum("ijk,ijk->ij", difference, difference))
    norms = np.linalg.norm(values, axis=1)
    zero = norms == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = values / norms[:, None]
    dissimilarity = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    np.fill_diagonal(dissimilarity, 0.0)
    dissimilarity[zero, :] = np.nan
    dissimilarity[:, zero] = np.nan
    warnings: list[str] = []
    if zero.any():
        zero_ids = [ids[i] for i in np.flatnonzero(zero)]
        message = f"patient {patient_id}: all-zero feature vector for lesion(s) {zero_ids}; no cosine dissimilarity for them"
        log.warning(message)
        warnings.append(message)
    reason = None
    if n < 2:
        reason = "only one lesion" if n == 1 else "no lesions"
    return PatientMIRV(str(patient_id), ids, dissimilarity, distance, reason, tuple(warnings))


def cohort_mirv(scaled: pd.DataFrame, progress: ProgressCallback | None = None) -> list[PatientMIRV]:
    """MIRV for every patient of a (PatientID, LesionID)-indexed table; a failing patient is reported, not fatal."""
    groups = scaled.groupby(level=0, sort=False).indices
    values = scaled.to_numpy(dtype=float)
    lesion_ids = scaled.index.get_level_values(1).astype(str).to_numpy()
    results: list[PatientMIRV] = []
    total = len(groups)
    for count, (patient_id, rows) in enumerate(groups.items(), start=1):
        try:
            results.append(patient_mirv(str(patient_id), values[rows], list(lesion_ids[rows])))
        except Exception as error:  # one bad patient never aborts a cohort
            log.error("patient %s: MIRV failed: %s", patient_id, error)
            undefined = np.full((len(rows), len(rows)), np.nan)
            results.append(PatientMIRV(str(patient_id), tuple(lesion_ids[rows]), undefined, undefined, f"error: {error}"))
        if progress is not None and (count == total or count % 100 == 0):
            progress(count / total, f"MIRV {count}/{total} patients")
    return results


def coefficient_of_variation(raw: pd.DataFrame) -> pd.DataFrame:
    """Per patient and raw feature, |std/mean| across the patient's lesions (std ddof 0, as scipy.stats.variation).

    Undefined (NaN) for one-lesion patients and for features whose patient mean is 0.
    """
    grouped = raw.groupby(level=0, sort=False)
    mean = grouped.mean()
    std = grouped.std(ddof=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = (std / mean).abs()
    cov = cov.replace([np.inf, -np.inf], np.nan)
    cov.loc[grouped.size() < 2] = np.nan
    cov.index.name = "PatientID"
    return cov


def _pair_summary(matrix: np.ndarray, lesion_ids: tuple[str, ...]) -> tuple[list[float], str]:
    """Max, mean, median, population std over the defined pairs and the most divergent pair's ids."""
    n = matrix.shape[0]
    if n < 2:
        return [np.nan] * len(_STATS), ""
    upper_i, upper_j = _upper_pairs(n)
    pairs = matrix[upper_i, upper_j]
    defined = np.isfinite(pairs)
    if not defined.any():
        return [np.nan] * len(_STATS), ""
    values = pairs[defined]
    best = np.flatnonzero(defined)[np.argmax(values)]
    pair = f"{lesion_ids[upper_i[best]]}{PAIR_SEPARATOR}{lesion_ids[upper_j[best]]}"
    ordered = np.sort(values)
    half = len(ordered) // 2
    median = ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2
    mean = values.mean()
    std = np.sqrt(np.mean((values - mean) ** 2))
    return [float(ordered[-1]), float(mean), float(median), float(std)], pair


@lru_cache(maxsize=128)
def _upper_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row/column indices of the pairs i < j (cached: every patient with n lesions shares them)."""
    return np.triu_indices(n, k=1)
