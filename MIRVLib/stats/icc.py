"""Intraclass correlation for features measured twice or more (two readers, two segmentations).

ICC(2,1) (two-way random effects, absolute agreement, single rater; McGraw & Wong's ICC(A,1)) and ICC(3,1)
(two-way mixed, consistency; ICC(C,1)) from the mean squares of the two-way ANOVA without replication
(Shrout & Fleiss 1979), with the F-based 95 % confidence intervals of McGraw & Wong (1996) — the definitions
pingouin's ``intraclass_corr`` reports, which the tests check against. Written here rather than imported
because pingouin is only a test reference, and because the robustness filter needs the two-column case fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import f as f_dist

ICC_TYPES = ("ICC2", "ICC3")
DEFAULT_TARGET = ("PatientID", "LesionID")
ICC_COLUMNS = ["Feature", "N", "Raters", "ICC2", "ICC2_CILower", "ICC2_CIUpper", "ICC3", "ICC3_CILower", "ICC3_CIUpper",
               "F", "df1", "df2", "p"]


@dataclass(frozen=True)
class ICCScores:
    """Both single-rater ICCs of one n targets × k raters matrix, with their 95 % CIs and the F test."""

    n: int
    k: int
    icc2: float
    icc2_ci: tuple[float, float]
    icc3: float
    icc3_ci: tuple[float, float]
    f: float
    df1: int
    df2: int
    p: float

    def row(self) -> dict[str, float]:
        """One row of the ICC table (``ICC_COLUMNS`` after Feature)."""
        return dict(zip(ICC_COLUMNS[1:], (self.n, self.k, self.icc2, *self.icc2_ci, self.icc3, *self.icc3_ci,
                                          self.f, self.df1, self.df2, self.p)))


def icc_scores(ratings: np.ndarray, alpha: float = 0.05) -> ICCScores:
    """ICC(2,1) and ICC(3,1) of a complete ``ratings`` matrix (rows = targets, columns = raters)."""
    x = np.asarray(ratings, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"ICC needs at least 2 targets rated by at least 2 raters, got a {x.shape} matrix")
    if not np.isfinite(x).all():
        raise ValueError("ICC needs a complete matrix (no missing or infinite ratings)")
    n, k = x.shape
    grand = x.mean()
    ms_rows = k * np.sum((x.mean(axis=1) - grand) ** 2) / (n - 1)  # between targets
    ms_cols = n * np.sum((x.mean(axis=0) - grand) ** 2) / (k - 1)  # between raters
    residual = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + grand
    df1, df2 = n - 1, (n - 1) * (k - 1)
    ms_error = np.sum(residual**2) / df2
    with np.errstate(divide="ignore", invalid="ignore"):
        icc2 = (ms_rows - ms_error) / (ms_rows + (k - 1) * ms_error + k * (ms_cols - ms_error) / n)
        icc3 = (ms_rows - ms_error) / (ms_rows + (k - 1) * ms_error)
        f_rows = ms_rows / ms_error
        # ICC(3,1): the exact F interval (McGraw & Wong, case 3)
        f_low, f_up = f_rows / f_dist.ppf(1 - alpha / 2, df1, df2), f_rows * f_dist.ppf(1 - alpha / 2, df2, df1)
        icc3_ci = ((f_low - 1) / (f_low + k - 1), (f_up - 1) / (f_up + k - 1))
        # ICC(2,1): Satterthwaite's approximate denominator degrees of freedom (McGraw & Wong, case 2A)
        a = k * icc2 / (n * (1 - icc2))
        b = 1 + k * icc2 * (n - 1) / (n * (1 - icc2))
        v = (a * ms_cols + b * ms_error) ** 2 / ((a * ms_cols) ** 2 / (k - 1) + (b * ms_error) ** 2 / df2)
        upper_f, lower_f = f_dist.ppf(1 - alpha / 2, df1, v), f_dist.ppf(1 - alpha / 2, v, df1)
        icc2_ci = (n * (ms_rows - upper_f * ms_error) / (upper_f * (k * ms_cols + (k * n - k - n) * ms_error) + n * ms_rows),
                   n * (lower_f * ms_rows - ms_error) / (k * ms_cols + (k * n - k - n) * ms_error + n * lower_f * ms_rows))
    return ICCScores(n, k, float(icc2), (float(icc2_ci[0]), float(icc2_ci[1])), float(icc3),
                     (float(icc3_ci[0]), float(icc3_ci[1])), float(f_rows), df1, df2, float(f_dist.sf(f_rows, df1, df2)))


def icc_pair(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, kind: str) -> float:
    """ICC(2,1) (``kind`` 'icc2') or ICC(3,1) ('icc3') of two measurements of the same targets; NaN when
    undefined (fewer than 2 targets, or no variation at all)."""
    ratings = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
    if len(ratings) < 2:
        return float("nan")
    if np.ptp(ratings) == 0:
        return 1.0
    scores = icc_scores(ratings)
    return scores.icc2 if kind == "icc2" else scores.icc3


def icc_table(frame: pd.DataFrame, rater: str, target: Sequence[str] = DEFAULT_TARGET,
              features: Sequence[str] | None = None, source: str = "features") -> pd.DataFrame:
    """Per feature: ICC(2,1) and ICC(3,1) with CIs from a long table (one row per target per rater).

    A target enters a feature's ICC only if every rater measured it (listwise, as pingouin's ``nan_policy
    ='omit'``); ``N`` says how many did. Features default to every numeric column but the keys.
    """
    keys = [*target, rater]
    missing = [c for c in keys if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; the ICC needs target column(s) {list(target)} "
                         f"and the rater column '{rater}'")
    if frame[keys].isna().any().any():
        raise ValueError(f"{source}: rows without a value in {keys}")
    duplicated = frame.duplicated(keys)
    if duplicated.any():
        first = frame.loc[duplicated, keys].iloc[0]
        raise ValueError(f"{source}: {int(duplicated.sum())} duplicated target/rater row(s), e.g. "
                         + ", ".join(f"{c}={first[c]}" for c in keys))
    raters = frame[rater].astype(str).unique()
    if len(raters) < 2:
        raise ValueError(f"{source}: the rater column '{rater}' has a single value ({raters[0]}); the ICC needs 2 or more")
    if features is None:
        features = [c for c in frame.columns if c not in keys and pd.api.types.is_numeric_dtype(frame[c])]
    else:
        unknown = [c for c in features if c not in frame.columns]
        if unknown:
            raise ValueError(f"{source}: feature column(s) {unknown} not found")
        text = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
        if text:
            raise ValueError(f"{source}: feature column(s) {text} are not numeric")
    if not features:
        raise ValueError(f"{source}: no numeric feature columns besides {keys}")
    index = frame[list(target)].astype(str).agg("/".join, axis=1)
    wide = {c: pd.DataFrame({"t": index, "r": frame[rater].astype(str), "v": frame[c].astype(float)})
            .pivot(index="t", columns="r", values="v") for c in features}
    rows = []
    for name, ratings in wide.items():
        complete = ratings.replace([np.inf, -np.inf], np.nan).dropna()
        row: dict = {"Feature": name}
        if len(complete) >= 2 and np.ptp(complete.to_numpy()) > 0:
            row.update(icc_scores(complete.to_numpy()).row())
        else:
            row.update({"N": len(complete), "Raters": ratings.shape[1]})
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=ICC_COLUMNS)
