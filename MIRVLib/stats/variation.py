"""Tests on the per-patient absolute coefficient of variation of each feature (Henry et al. 2022).

``feature_variation.csv`` (written by ``mirv cohort``) holds, per patient and raw feature, |std/mean| across the
patient's lesions. Henry et al. tested each feature's mean |CV| for non-nullity with a one-sample t-test and
compared oligo- (2–5 lesions) with multi-metastatic patients by the Wilcoxon rank-sum (Mann–Whitney U) exact
test, without multiple-testing correction. Here the one-sample test is against a stated threshold (e.g. 0.2:
"at least 20 % variation"), Wilcoxon signed-rank by default (|CV| is skewed) or Student's t as Henry did, and
both families get BH-FDR next to the raw p.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu, ttest_1samp, wilcoxon

from MIRVLib.lesion_table import PATIENT_ID
from MIRVLib.stats.fdr import bh_fdr

ONE_SAMPLE_TESTS = ("wilcoxon", "t")
ALTERNATIVES = ("two-sided", "greater", "less")
DEFAULT_CV_THRESHOLD = 0.2
DEFAULT_OLIGO_MAX = 5
OLIGO, MULTI = "oligo", "multi"


@dataclass
class VariationResult:
    tests: pd.DataFrame  # one row per feature
    values: pd.DataFrame  # the |CV| table used (patients × features), with a Group column when grouped
    settings: dict


def variation_table(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The |CV| table (as read from feature_variation.csv) indexed by PatientID; ``columns`` restricts it."""
    path = frame.attrs.get("source", "feature variation table")
    if PATIENT_ID not in frame.columns:
        raise ValueError(f"{path}: no '{PATIENT_ID}' column; expected feature_variation.csv written by `mirv cohort`")
    frame = frame.assign(**{PATIENT_ID: frame[PATIENT_ID].astype(str)}).set_index(PATIENT_ID)
    if columns:
        unknown = [c for c in columns if c not in frame.columns]
        if unknown:
            raise ValueError(f"{path}: {len(unknown)} feature(s) not in the table, e.g. {unknown[:5]}")
        frame = frame[list(columns)]
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        raise ValueError(f"{path}: non-numeric column(s) {text[:5]}")
    if (frame < 0).any().any():
        raise ValueError(f"{path}: negative values; expected absolute coefficients of variation")
    return frame


def lesion_groups(patients: pd.DataFrame, count_column: str = "NumLesions", oligo_max: int = DEFAULT_OLIGO_MAX) -> pd.Series:
    """Per PatientID of a patients table: 'oligo' for 2..``oligo_max`` lesions, 'multi' above, missing for
    one-lesion patients (no CV)."""
    missing = [c for c in (PATIENT_ID, count_column) if c not in patients.columns]
    if missing:
        raise ValueError(f"{patients.attrs.get('source', 'patients table')}: missing column(s) {missing}")
    counts = pd.to_numeric(patients[count_column], errors="coerce")
    counts.index = patients[PATIENT_ID].astype(str)
    groups = pd.Series(np.where(counts > oligo_max, MULTI, OLIGO), index=counts.index, dtype=object)
    return groups.where(counts >= 2)


def _one_sample(values: np.ndarray, threshold: float, test: str, alternative: str) -> tuple[float, float]:
    if test == "t":
        result = ttest_1samp(values, threshold, alternative=alternative)
    else:
        differences = values - threshold
        if not np.any(differences):
            return np.nan, np.nan
        result = wilcoxon(differences, alternative=alternative)
    return float(result.statistic), float(result.pvalue)


def variation_tests(values: pd.DataFrame, threshold: float = DEFAULT_CV_THRESHOLD, test: str = "wilcoxon",
                    alternative: str = "two-sided", groups: pd.Series | None = None, min_patients: int = 3) -> VariationResult:
    """Per feature: n, mean and median |CV|, the one-sample test against ``threshold`` and, with ``groups``
    (oligo/multi per patient), the Mann–Whitney U test between them; BH-FDR within each family."""
    if test not in ONE_SAMPLE_TESTS:
        raise ValueError(f"variation: test must be one of {ONE_SAMPLE_TESTS}, got {test!r}")
    if alternative not in ALTERNATIVES:
        raise ValueError(f"variation: alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    if groups is not None:
        unknown = values.index.difference(groups.index)
        if len(unknown):
            raise ValueError(f"variation: {len(unknown)} patient(s) without a lesion count, e.g. {unknown[0]}")
        groups = groups.reindex(values.index)
    rows = []
    for feature in values.columns:
        column = values[feature].replace([np.inf, -np.inf], np.nan).dropna()
        row = {"Feature": feature, "N": len(column), "MeanAbsCV": column.mean(), "MedianAbsCV": column.median(),
               "Statistic": np.nan, "P": np.nan}
        if len(column) >= min_patients:
            row["Statistic"], row["P"] = _one_sample(column.to_numpy(), threshold, test, alternative)
        if groups is not None:
            oligo = column[groups.reindex(column.index) == OLIGO]
            multi = column[groups.reindex(column.index) == MULTI]
            row.update(NOligo=len(oligo), NMulti=len(multi), MedianOligo=oligo.median(), MedianMulti=multi.median(),
                       U=np.nan, PGroups=np.nan)
            if len(oligo) >= 2 and len(multi) >= 2:
                result = mannwhitneyu(oligo, multi, alternative="two-sided")
                row["U"], row["PGroups"] = float(result.statistic), float(result.pvalue)
        rows.append(row)
    tests = pd.DataFrame(rows)
    if tests["P"].isna().all():
        raise ValueError(f"variation: no feature has |CV| values of {min_patients} or more patients")
    tests.insert(tests.columns.get_loc("P") + 1, "FDR", bh_fdr(tests["P"]))
    if groups is not None:
        tests["FDRGroups"] = bh_fdr(tests["PGroups"])
    used = values.copy()
    if groups is not None:
        used["Group"] = groups
    settings = {"threshold": threshold, "test": test, "alternative": alternative, "minPatients": min_patients,
                "grouped": groups is not None}
    return VariationResult(tests, used, settings)
