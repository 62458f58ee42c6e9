"""Kruskal–Wallis comparison of metrics across the levels of a category (rank-based: MIRV is not normal)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from MIRVLib.stats.fdr import bh_fdr
from MIRVLib.stats.join import complete_cases, numeric_columns, require_columns


def group_samples(frame: pd.DataFrame, metric: str, group: str) -> dict[str, np.ndarray]:
    """The metric's values per level of ``group`` (levels as sorted text), patients missing either left out."""
    used = complete_cases(frame, [metric, group])
    values = numeric_columns(used, [metric], "compare")[metric]
    labels = used[group].astype(str)
    return {level: values[labels == level].to_numpy() for level in sorted(labels.unique())}


def kruskal_wallis(frame: pd.DataFrame, metrics: Sequence[str], group: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One test per metric (H, p, BH across metrics) plus per-level n / median / IQR for the box plots."""
    if not metrics:
        raise ValueError("compare: at least one metric column is required")
    require_columns(frame, [*metrics, group], "compare")
    tests, levels_rows = [], []
    for metric in metrics:
        samples = group_samples(frame, metric, group)
        values = np.concatenate(list(samples.values())) if samples else np.empty(0)
        row = {"metric": metric, "group": group, "levels": len(samples), "n": int(values.size),
               "H": np.nan, "p": np.nan, "note": ""}
        if len(samples) < 2:
            row["note"] = "fewer than two groups"
        elif np.unique(values).size < 2:
            row["note"] = "all values identical"
        else:
            result = sps.kruskal(*samples.values())
            row.update(H=float(result.statistic), p=float(result.pvalue))
        tests.append(row)
        for level, sample in samples.items():
            levels_rows.append({"metric": metric, "group": group, "level": level, "n": sample.size,
                                "median": float(np.median(sample)), "q1": float(np.percentile(sample, 25)),
                                "q3": float(np.percentile(sample, 75))})
    table = pd.DataFrame(tests)
    table.insert(table.columns.get_loc("p") + 1, "fdr", bh_fdr(table["p"]))
    return table, pd.DataFrame(levels_rows)
