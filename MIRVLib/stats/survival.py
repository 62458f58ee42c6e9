"""Kaplan–Meier curves and log-rank tests for a metric split at its median (MIRV paper, subgroup analysis).

The split is made within each subgroup (e.g. histology), because the published analysis asks whether
high-MIRV patients *of the same histology* live shorter; p-values of all subgroups and metrics are then
BH-corrected together, as in the paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test

from MIRVLib.stats.cox import fit_cox, survival_times
from MIRVLib.stats.fdr import bh_fdr
from MIRVLib.stats.join import complete_cases, numeric_columns, require_columns

ALL = "All"


def split_high(values: pd.Series, cutoff: float | None = None) -> tuple[pd.Series, float]:
    """``values >= cutoff`` (cutoff = median when not given), the convention of "≥ median" in the paper."""
    cut = float(values.median()) if cutoff is None else float(cutoff)
    return values >= cut, cut


@dataclass
class KMCurve:
    """Fitted low/high Kaplan–Meier estimators of one metric in one subgroup, ready to plot."""

    metric: str
    subgroup: str
    cutoff: float
    low: KaplanMeierFitter
    high: KaplanMeierFitter
    p: float
    fdr: float = np.nan  # BH-adjusted over every metric × subgroup row of the table


@dataclass
class KMResult:
    table: pd.DataFrame
    curves: list[KMCurve]


def _cutoff_for(cutoff: float | Mapping[str, float] | None, metric: str) -> float | None:
    if isinstance(cutoff, Mapping):
        return cutoff.get(metric)
    return cutoff


def km_analysis(
    frame: pd.DataFrame,
    duration: str,
    event: str,
    metrics: Sequence[str],
    group_by: str | None = None,
    cutoff: float | Mapping[str, float] | None = None,
    univariable_cox: bool = False,
) -> KMResult:
    """Per metric × subgroup (``All`` plus each level of ``group_by``): split, KM fit, log-rank, BH over all rows.

    Patients missing the duration, event, metric or group are left out of that metric only (n is reported).
    A subgroup where one side of the split is empty gets no test (p missing, ``note`` says why).
    """
    if not metrics:
        raise ValueError("km: at least one metric column is required")
    require_columns(frame, [duration, event, *metrics, *([group_by] if group_by else [])], "km")
    rows, curves = [], []
    for metric in metrics:
        used = complete_cases(frame, [duration, event, metric, *([group_by] if group_by else [])])
        data = survival_times(used, duration, event, "km").join(numeric_columns(used, [metric], "km"))
        groups = [(ALL, data.index)]
        if group_by:
            levels = sorted(used[group_by].astype(str).unique())
            groups += [(level, used.index[used[group_by].astype(str) == level]) for level in levels]
        for subgroup, index in groups:
            sub = data.loc[index]
            high, cut = split_high(sub[metric], _cutoff_for(cutoff, metric))
            row: dict = {"metric": metric, "subgroup": subgroup, "n": len(sub), "events": int(sub[event].sum()),
                         "cutoff": cut, "n_low": int((~high).sum()), "n_high": int(high.sum()),
                         "events_low": int(sub.loc[~high, event].sum()), "events_high": int(sub.loc[high, event].sum()),
                         "median_survival_low": np.nan, "median_survival_high": np.nan,
                         "test_statistic": np.nan, "p": np.nan, "note": ""}
            if row["n_low"] == 0 or row["n_high"] == 0:
                row["note"] = "one side of the split is empty"
                rows.append(row)
                continue
            low_fit = KaplanMeierFitter(label=f"{metric} < {cut:.4g}").fit(sub.loc[~high, duration], sub.loc[~high, event])
            high_fit = KaplanMeierFitter(label=f"{metric} ≥ {cut:.4g}").fit(sub.loc[high, duration], sub.loc[high, event])
            test = logrank_test(sub.loc[high, duration], sub.loc[~high, duration], sub.loc[high, event], sub.loc[~high, event])
            row.update(median_survival_low=float(low_fit.median_survival_time_),
                       median_survival_high=float(high_fit.median_survival_time_),
                       test_statistic=float(test.test_statistic), p=float(test.p_value))
            if univariable_cox:
                row.update(_univariable_cox(sub, duration, event, metric))
            rows.append(row)
            curves.append(KMCurve(metric, subgroup, cut, low_fit, high_fit, row["p"]))
    table = pd.DataFrame(rows)
    table.insert(table.columns.get_loc("p") + 1, "fdr", bh_fdr(table["p"]))
    adjusted = table.set_index(["metric", "subgroup"])["fdr"]
    for curve in curves:
        curve.fdr = float(adjusted.loc[(curve.metric, curve.subgroup)])
    return KMResult(table, curves)


def _univariable_cox(sub: pd.DataFrame, duration: str, event: str, metric: str) -> dict:
    """HR per unit of the continuous metric in this subgroup; a failed fit is reported, not raised."""
    try:
        result = fit_cox(sub, duration, event, [metric], ph_test=False).summary.iloc[0]
    except Exception as error:  # noqa: BLE001 — one subgroup's convergence failure must not stop the others
        return {"cox_note": f"cox failed: {error}"}
    return {"cox_HR": result["exp(coef)"], "cox_HR_lower_95": result["exp(coef) lower 95%"],
            "cox_HR_upper_95": result["exp(coef) upper 95%"], "cox_p": result["p"]}
