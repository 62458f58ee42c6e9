"""Spearman matrix + BH-FDR against plain scipy/statsmodels, and the paper's Figure 2A self-check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from stats_data import FIGURE_2A, sarc021_patients
from statsmodels.stats.multitest import multipletests

from MIRVLib.stats.correlate import spearman_matrix


@pytest.fixture()
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    a = rng.normal(size=40)
    data = pd.DataFrame({"a": a, "b": a + rng.normal(scale=0.7, size=40), "c": rng.normal(size=40),
                         "d": -a + rng.normal(scale=2, size=40)})
    data.loc[[3, 11], "c"] = np.nan
    data.loc[5, "d"] = np.nan
    return data


def test_listwise_matches_scipy_and_bh_over_the_lower_triangle(frame):
    result = spearman_matrix(frame, ["a", "b", "c", "d"])
    complete = frame.dropna()
    rho, p = spearmanr(complete.to_numpy())
    np.testing.assert_allclose(result.rho.to_numpy(), rho, rtol=1e-12)
    lower = np.tril_indices(4, -1)
    np.testing.assert_allclose(result.p.to_numpy()[lower], p[lower], rtol=1e-12)
    expected_fdr = multipletests(p[lower], method="fdr_bh")[1]
    np.testing.assert_allclose(result.fdr.to_numpy()[lower], expected_fdr, rtol=1e-12)
    np.testing.assert_allclose(result.fdr.to_numpy().T[lower], expected_fdr, rtol=1e-12)  # symmetric
    assert (result.n.to_numpy()[lower] == 37).all()
    assert np.isnan(np.diag(result.p.to_numpy())).all()


def test_pairwise_uses_each_pairs_complete_cases(frame):
    result = spearman_matrix(frame, ["a", "c", "d"], missing="pairwise")
    pair = frame[["c", "d"]].dropna()
    assert result.n.loc["d", "c"] == len(pair) == 37
    assert result.n.loc["c", "a"] == 38
    assert result.rho.loc["d", "c"] == pytest.approx(spearmanr(pair["c"], pair["d"]).statistic, rel=1e-12)
    long = result.long_table()
    assert list(long[["column_a", "column_b"]].itertuples(index=False, name=None)) == [("c", "a"), ("d", "a"), ("d", "c")]


def test_too_few_columns_and_text_columns_are_errors(frame):
    with pytest.raises(ValueError, match="at least two columns"):
        spearman_matrix(frame, ["a"])
    frame["t"] = ["x"] * len(frame)
    with pytest.raises(ValueError, match="column 't' is not numeric"):
        spearman_matrix(frame, ["a", "t"])


def test_figure_2a_reference_preset_self_check(reference_patients):
    """docs/methods.md, Statistics: ρ(MIRV(max) Dissimilarity, Δ Volume) = 0.513, ρ(.., Complete Tumour Response) = −0.324."""
    result = spearman_matrix(reference_patients, FIGURE_2A)
    assert result.n.to_numpy().min() == 85
    assert result.rho.loc["MIRVMaxDissimilarity", "VolumeChangeRange"] == pytest.approx(0.513, abs=5e-4)
    assert result.rho.loc["MIRVMaxDissimilarity", "CompleteTumorResponse"] == pytest.approx(-0.324, abs=5e-4)
    assert result.rho.shape == (7, 7)
    # Δ Volume and MIRV dissimilarity stay significant after BH over the 21 pairs
    assert result.fdr.loc["MIRVMaxDissimilarity", "VolumeChangeRange"] < 0.05


def test_figure_2a_paper_preset_self_check(sarc021_dir):
    result = spearman_matrix(sarc021_patients(sarc021_dir, "paper"), FIGURE_2A)
    assert result.rho.loc["MIRVMaxDissimilarity", "VolumeChangeRange"] == pytest.approx(0.329, abs=5e-4)
    assert result.rho.loc["MIRVMaxDissimilarity", "CompleteTumorResponse"] == pytest.approx(-0.352, abs=5e-4)
