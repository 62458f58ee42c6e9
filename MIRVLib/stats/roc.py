"""ROC analysis of a binary outcome: AUC with DeLong's 95 % CI (or a stratified bootstrap CI) and DeLong's
paired test between every two predictors, BH-FDR over the pairs.

DeLong, DeLong & Clarke-Pearson (1988) write the AUC as the mean of *placement values* (structural
components): V10 for each positive (the share of negatives it outranks) and V01 for each negative; their
covariances over positives (S10) and negatives (S01) give the variance of one AUC and the covariance of two
AUCs measured on the same patients, hence a z test that respects the pairing. A predictor's AUC is that of
"higher value = outcome 1"; an AUC below 0.5 means the predictor runs the other way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.metrics import roc_curve

from MIRVLib.stats.discrimination import bootstrap_interval
from MIRVLib.stats.fdr import bh_fdr
from MIRVLib.stats.join import complete_cases, numeric_columns, require_columns

CI_METHODS = ("delong", "bootstrap")


def binary_outcome(values: pd.Series, name: str, purpose: str) -> np.ndarray:
    """0/1 of a two-valued numeric column (the larger value is the positive class)."""
    numeric = numeric_columns(values.to_frame(name), [name], purpose)[name]
    levels = np.unique(numeric)
    if len(levels) != 2:
        raise ValueError(f"{purpose}: outcome '{name}' must have exactly two values among the patients used "
                         f"(found {len(levels)}: {levels[:5].tolist()}); derive one, e.g. --derive 'RESP=RECIST==PR'")
    return (numeric.to_numpy() == levels[1]).astype(int)


def placements(score: np.ndarray, outcome: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """V10 (one per positive) and V01 (one per negative): ψ(x, y) = 1 if x > y, ½ if tied, averaged."""
    positive, negative = score[outcome == 1], score[outcome == 0]
    psi = (positive[:, None] > negative[None, :]) + 0.5 * (positive[:, None] == negative[None, :])
    return psi.mean(axis=1), psi.mean(axis=0)


@dataclass
class DeLong:
    """AUCs of several predictors on the same patients and their DeLong covariance matrix."""

    auc: np.ndarray
    covariance: np.ndarray

    @classmethod
    def fit(cls, scores: np.ndarray, outcome: np.ndarray) -> DeLong:
        """``scores``: one column per predictor."""
        scores = np.asarray(scores, dtype=float).reshape(len(outcome), -1)
        m, n = int(outcome.sum()), int((outcome == 0).sum())
        if m < 2 or n < 2:
            raise ValueError(f"ROC: needs at least two patients in each outcome class (have {m} positive, {n} negative)")
        v10, v01 = zip(*(placements(scores[:, k], outcome) for k in range(scores.shape[1])))
        s10 = np.atleast_2d(np.cov(np.vstack(v10)))
        s01 = np.atleast_2d(np.cov(np.vstack(v01)))
        return cls(np.array([v.mean() for v in v10]), s10 / m + s01 / n)

    def interval(self, k: int, level: float = 0.95) -> tuple[float, float]:
        """Wald interval AUC ± z·SE, clipped to [0, 1] (as pROC does)."""
        half = norm.ppf(0.5 + level / 2) * np.sqrt(self.covariance[k, k])
        return max(0.0, self.auc[k] - half), min(1.0, self.auc[k] + half)

    def paired_test(self, a: int, b: int) -> tuple[float, float, float]:
        """ΔAUC (a − b), z and the two-sided p of DeLong's test for correlated ROC curves."""
        delta = self.auc[a] - self.auc[b]
        variance = self.covariance[a, a] + self.covariance[b, b] - 2 * self.covariance[a, b]
        if variance <= 0:
            return float(delta), np.nan, np.nan
        z = delta / np.sqrt(variance)
        return float(delta), float(z), float(2 * norm.sf(abs(z)))


@dataclass
class ROCResult:
    summary: pd.DataFrame
    pairs: pd.DataFrame
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    n: int = 0
    positives: int = 0


def roc_analysis(frame: pd.DataFrame, outcome: str, predictors: Sequence[str], *, ci: str = "delong",
                 resamples: int = 2000, seed: int = 0, level: float = 0.95) -> ROCResult:
    """AUC per predictor and DeLong's paired tests, all on the patients with the outcome and every predictor
    (listwise, so the summary AUCs and the paired differences describe the same patients)."""
    if ci not in CI_METHODS:
        raise ValueError(f"ROC: unknown CI method '{ci}'; use one of {CI_METHODS}")
    predictors = list(dict.fromkeys(predictors))
    if not predictors:
        raise ValueError("ROC: at least one predictor column is needed")
    if outcome in predictors:
        raise ValueError(f"ROC: the outcome '{outcome}' is also listed as a predictor")
    require_columns(frame, [outcome, *predictors], "roc")
    used = complete_cases(frame, [outcome, *predictors])
    if used.empty:
        raise ValueError(f"ROC: no patient has '{outcome}' and all of {predictors}")
    y = binary_outcome(used[outcome], outcome, "roc")
    scores = numeric_columns(used, predictors, "roc").to_numpy()
    delong = DeLong.fit(scores, y)
    rows = []
    for k, name in enumerate(predictors):
        lower, upper = delong.interval(k, level)
        row = {"Predictor": name, "N": len(y), "AUC": delong.auc[k], "CILower": lower, "CIUpper": upper,
               "SE": float(np.sqrt(delong.covariance[k, k])), "CIMethod": ci, "Positives": int(y.sum())}
        if ci == "bootstrap":
            column = scores[:, k]
            row["CILower"], row["CIUpper"], _ = bootstrap_interval(
                lambda i, c=column: float(np.mean(placements(c[i], y[i])[0])), len(y), resamples, seed, strata=y, level=level)
        rows.append(row)
    pairs = []
    for a, b in combinations(range(len(predictors)), 2):
        delta, z, p = delong.paired_test(a, b)
        pairs.append({"PredictorA": predictors[a], "PredictorB": predictors[b], "N": len(y), "DeltaAUC": delta, "Z": z, "P": p})
    pair_table = pd.DataFrame(pairs, columns=["PredictorA", "PredictorB", "N", "DeltaAUC", "Z", "P"])
    pair_table["FDR"] = bh_fdr(pair_table["P"])
    curves = {}
    for k, name in enumerate(predictors):
        fpr, tpr, _ = roc_curve(y, scores[:, k])
        curves[name] = (fpr, tpr)
    return ROCResult(pd.DataFrame(rows), pair_table, curves, len(y), int(y.sum()))
