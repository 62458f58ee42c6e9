"""Spearman correlation matrix with Benjamini–Hochberg FDR over the lower triangle (MIRV paper, Figure 2A)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from MIRVLib.stats.fdr import bh_fdr
from MIRVLib.stats.join import complete_cases, numeric_columns


@dataclass
class CorrelationResult:
    """ρ, raw p and BH-adjusted p as square tables labelled by column; n = patients used per pair."""

    rho: pd.DataFrame
    p: pd.DataFrame
    fdr: pd.DataFrame
    n: pd.DataFrame
    missing: str

    def long_table(self) -> pd.DataFrame:
        """One row per lower-triangle pair — easier to read and filter than three matrices."""
        columns = list(self.rho.columns)
        rows = [{"column_a": columns[i], "column_b": columns[j], "n": int(self.n.iat[i, j]), "rho": self.rho.iat[i, j],
                 "p": self.p.iat[i, j], "fdr": self.fdr.iat[i, j]}
                for i in range(len(columns)) for j in range(i)]
        return pd.DataFrame(rows, columns=["column_a", "column_b", "n", "rho", "p", "fdr"])


def spearman_matrix(frame: pd.DataFrame, columns: Sequence[str], missing: str = "listwise") -> CorrelationResult:
    """Pairwise Spearman ρ and p (scipy); the lower-triangle p-values are FDR-corrected together.

    ``missing="listwise"`` keeps patients complete in every chosen column (one n for the whole matrix,
    as in the paper); ``"pairwise"`` uses every patient complete in the two columns of each pair.
    """
    columns = list(dict.fromkeys(columns))
    if len(columns) < 2:
        raise ValueError("correlation needs at least two columns")
    if missing not in {"listwise", "pairwise"}:
        raise ValueError(f"missing must be 'listwise' or 'pairwise', not '{missing}'")
    data = numeric_columns(frame, columns, "correlate")
    if missing == "listwise":
        data = complete_cases(data, columns)
    k = len(columns)
    rho, p, n = np.eye(k), np.zeros((k, k)), np.zeros((k, k), dtype=int)
    for i in range(k):
        n[i, i] = int(data[columns[i]].notna().sum())
        for j in range(i):
            pair = data[[columns[i], columns[j]]].dropna()
            n[i, j] = n[j, i] = len(pair)
            if len(pair) < 3 or pair.iloc[:, 0].nunique() < 2 or pair.iloc[:, 1].nunique() < 2:
                rho[i, j] = rho[j, i] = p[i, j] = p[j, i] = np.nan
                continue
            result = sps.spearmanr(pair.iloc[:, 0], pair.iloc[:, 1])
            rho[i, j] = rho[j, i] = result.statistic
            p[i, j] = p[j, i] = result.pvalue
    fdr = np.full((k, k), np.nan)
    lower = np.tril_indices(k, -1)
    fdr[lower] = fdr[lower[1], lower[0]] = bh_fdr(p[lower])
    np.fill_diagonal(p, np.nan)
    label = lambda values: pd.DataFrame(values, index=columns, columns=columns)  # noqa: E731
    return CorrelationResult(label(rho), label(p), label(fdr), label(n), missing)
