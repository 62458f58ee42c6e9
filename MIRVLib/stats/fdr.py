"""Benjamini–Hochberg FDR over the p-values that exist: one definition for every `mirv stats` table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from statsmodels.stats.multitest import multipletests


def bh_fdr(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """BH-adjusted p-values in the order given; a missing p (NaN: test not possible) stays NaN and is not counted."""
    p = np.asarray(p, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    tested = ~np.isnan(p)
    if tested.any():
        adjusted[tested] = multipletests(p[tested], method="fdr_bh")[1]
    return adjusted
