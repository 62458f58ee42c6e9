"""Kaplan–Meier / log-rank per subgroup and Kruskal–Wallis equal direct lifelines / scipy calls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test
from scipy.stats import kruskal
from stats_data import CLINICAL
from statsmodels.stats.multitest import multipletests

from MIRVLib.stats.compare import kruskal_wallis
from MIRVLib.stats.join import prepare_table, read_table
from MIRVLib.stats.survival import km_analysis, split_high

METRICS = ["MIRVMaxDissimilarity", "MIRVMaxDistance"]


@pytest.fixture(scope="module")
def joined(reference_patients, sarc021_dir) -> pd.DataFrame:
    tables = [reference_patients, *(read_table(sarc021_dir / name) for name in CLINICAL)]
    return prepare_table(tables, "PatientID,USUBJID").frame


def _direct_logrank(frame: pd.DataFrame, metric: str) -> tuple[float, KaplanMeierFitter, int]:
    data = frame.dropna(subset=[metric])
    high = data[metric] >= data[metric].median()
    test = logrank_test(data.loc[high, "T_OS"], data.loc[~high, "T_OS"], data.loc[high, "E_OS"], data.loc[~high, "E_OS"])
    fitter = KaplanMeierFitter().fit(data.loc[high, "T_OS"], data.loc[high, "E_OS"])
    return test.p_value, fitter, int(high.sum())


def test_logrank_per_histology_equals_lifelines_and_bh_spans_all_rows(joined):
    result = km_analysis(joined, "T_OS", "E_OS", METRICS, group_by="CPCELL", univariable_cox=True)
    table = result.table.set_index(["metric", "subgroup"])
    for metric in METRICS:
        p, fitter, n_high = _direct_logrank(joined, metric)
        assert table.loc[(metric, "All"), "p"] == pytest.approx(p, rel=1e-12)
        assert table.loc[(metric, "All"), "n"] == 85 and table.loc[(metric, "All"), "n_high"] == n_high
        lms = joined[joined["CPCELL"] == "Leiomyosarcoma"]
        p_lms, _, _ = _direct_logrank(lms, metric)  # median split *within* the subgroup
        assert table.loc[(metric, "Leiomyosarcoma"), "p"] == pytest.approx(p_lms, rel=1e-12)
        curve = next(c for c in result.curves if c.metric == metric and c.subgroup == "All")
        np.testing.assert_array_equal(curve.high.survival_function_.index, fitter.survival_function_.index)
        np.testing.assert_allclose(curve.high.survival_function_.to_numpy(), fitter.survival_function_.to_numpy())
        np.testing.assert_allclose(curve.high.confidence_interval_.to_numpy(), fitter.confidence_interval_.to_numpy())
    tested = result.table["p"].notna()
    np.testing.assert_allclose(result.table.loc[tested, "fdr"], multipletests(result.table.loc[tested, "p"], method="fdr_bh")[1])
    # 'Other' has one lung patient with MIRV: no split possible, reported rather than dropped
    other = table.loc[("MIRVMaxDissimilarity", "Other")]
    assert np.isnan(other["p"]) and other["note"] == "one side of the split is empty"
    lms = joined[(joined["CPCELL"] == "Leiomyosarcoma")].dropna(subset=["MIRVMaxDistance"])
    direct = CoxPHFitter().fit(lms[["T_OS", "E_OS", "MIRVMaxDistance"]], "T_OS", "E_OS").summary.iloc[0]
    assert table.loc[("MIRVMaxDistance", "Leiomyosarcoma"), "cox_HR"] == pytest.approx(direct["exp(coef)"], rel=1e-8)
    assert table.loc[("MIRVMaxDistance", "Leiomyosarcoma"), "cox_p"] == pytest.approx(direct["p"], rel=1e-8)


def test_fixed_cutoff_and_median_split_rule():
    values = pd.Series([1.0, 2.0, 3.0, 4.0])
    high, cut = split_high(values)
    assert cut == 2.5 and high.tolist() == [False, False, True, True]
    high, cut = split_high(values, 3.0)
    assert high.tolist() == [False, False, True, True]
    frame = pd.DataFrame({"T": [5, 6, 7, 8, 9, 10], "E": [1, 0, 1, 1, 0, 1], "M": [1, 2, 3, 4, 5, 6]})
    row = km_analysis(frame, "T", "E", ["M"], cutoff={"M": 5}).table.iloc[0]
    assert (row["cutoff"], row["n_low"], row["n_high"], row["events_high"]) == (5.0, 4, 2, 1)
    with pytest.raises(ValueError, match="event column 'M' must be 0/1"):
        km_analysis(frame, "T", "M", ["E"])
    with pytest.raises(ValueError, match="km: negative survival times in 'T'"):
        km_analysis(frame.assign(T=frame["T"] - 6), "T", "E", ["M"])


def test_kruskal_wallis_equals_scipy(joined):
    tests, levels = kruskal_wallis(joined, METRICS, "CPCELL")
    for metric in METRICS:
        data = joined.dropna(subset=[metric])
        groups = [g[metric].to_numpy() for _, g in data.groupby("CPCELL")]
        expected = kruskal(*groups)
        row = tests.set_index("metric").loc[metric]
        assert row["H"] == pytest.approx(expected.statistic, rel=1e-12)
        assert row["p"] == pytest.approx(expected.pvalue, rel=1e-12)
        assert row["n"] == 85 and row["levels"] == data["CPCELL"].nunique()
    np.testing.assert_allclose(tests["fdr"], multipletests(tests["p"], method="fdr_bh")[1])
    lms = levels[(levels["metric"] == METRICS[0]) & (levels["level"] == "Leiomyosarcoma")].iloc[0]
    values = joined.loc[joined["CPCELL"] == "Leiomyosarcoma", METRICS[0]].dropna()
    assert lms["median"] == pytest.approx(values.median()) and lms["n"] == len(values)


def test_kruskal_wallis_reports_degenerate_groups():
    frame = pd.DataFrame({"m": [1.0, 2.0, 3.0], "g": ["a", "a", "a"]})
    assert kruskal_wallis(frame, ["m"], "g")[0].iloc[0]["note"] == "fewer than two groups"
