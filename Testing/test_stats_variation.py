"""Henry et al.'s analyses: clustering feature selection equals SciPy's tree cut; |CV| tests equal scipy.stats."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist
from scipy.stats import mannwhitneyu, ttest_1samp, wilcoxon

from MIRVLib.cli import main
from MIRVLib.feature_clusters import ClusterSelection
from MIRVLib.lesion_table import LesionTable
from MIRVLib.stats.variation import lesion_groups, variation_tests


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg by hand: p·m/rank, made monotone from the largest p down."""
    order = np.argsort(p)
    scaled = p[order] * len(p) / np.arange(1, len(p) + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1].clip(max=1)
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out


def test_clusters_of_a_hand_case():
    x = np.arange(1.0, 9.0)
    d = np.array([1.0, -1, 1, -1, 1, -1, 1, -2])
    frame = pd.DataFrame({"b": 2 * x + 1, "a": x, "c": -x + 0.01 * d, "e": 3 * d + 0.1 * x, "d": d})
    selection = ClusterSelection(threshold=0.3).fit(frame)
    clusters = selection.clusters.set_index("Feature")["Cluster"]
    assert clusters["a"] == clusters["b"] == clusters["c"] and clusters["d"] == clusters["e"] != clusters["a"]
    assert selection.selected == ["a", "d"]  # table order, the first name of each cluster
    assert list(selection.transform(frame).columns) == ["a", "d"]
    assert ClusterSelection(threshold=0.0).fit(frame).selected == ["a", "c", "e", "d"]  # only a/b have |r| = 1
    with pytest.raises(ValueError, match="missing or non-numeric"):
        ClusterSelection().fit(frame.assign(a=[np.nan, *x[1:]]))


@pytest.fixture(scope="module")
def lung_features(sarc021_dir) -> pd.DataFrame:
    table = LesionTable.read_csv(sarc021_dir / "lung_lesion_features.csv.gz")
    return table.frame[table.feature_names]


@pytest.mark.parametrize("correlation, method", [("pearson", "average"), ("spearman", "complete")])
def test_sarc021_clusters_equal_scipy(lung_features, correlation, method):
    features = lung_features.loc[:, lung_features.nunique() > 1]
    values = features.rank().to_numpy() if correlation == "spearman" else features.to_numpy()
    distance = 1 - np.abs(1 - pdist(values.T, "correlation"))  # pdist gives 1 - r
    labels = fcluster(linkage(distance.clip(0), method=method), t=0.3, criterion="distance")
    expected = {frozenset(features.columns[labels == k]) for k in np.unique(labels)}
    selection = ClusterSelection(0.3, correlation, method).fit(lung_features)
    ours = {frozenset(g["Feature"]) for _, g in selection.clusters.groupby("Cluster")}
    assert ours == expected and len(selection.selected) == len(expected)
    assert set(selection.selected) == {min(group) for group in expected}
    central = ClusterSelection(0.3, correlation, method, representative="central").fit(lung_features)
    r = np.abs(np.corrcoef(values.T))
    names = list(features.columns)
    for group in expected:
        index = [names.index(n) for n in sorted(group)]
        block = r[np.ix_(index, index)]
        mean = (block.sum(axis=1) - 1) / max(len(index) - 1, 1)
        best = min(n for n, m in zip(sorted(group), mean) if m >= mean.max() - 1e-10)
        assert best in central.selected


def test_variation_tests_equal_scipy():
    rng = np.random.default_rng(11)
    values = pd.DataFrame(np.abs(rng.normal(0.4, 0.3, size=(30, 3))), columns=["f1", "f2", "f3"],
                          index=pd.Index([f"P{i}" for i in range(30)], name="PatientID"))
    values.iloc[:4, 1] = np.nan
    values.iloc[20:, 2] *= 3  # the multi-metastatic patients vary more in f3
    counts = pd.DataFrame({"PatientID": values.index, "NumLesions": [2 + i % 4 for i in range(20)] + [6 + i for i in range(10)]})
    groups = lesion_groups(counts, oligo_max=5)
    result = variation_tests(values, threshold=0.2, groups=groups)
    tests = result.tests.set_index("Feature")
    t_result = variation_tests(values, threshold=0.2, test="t", alternative="greater").tests.set_index("Feature")
    for feature in values.columns:
        column = values[feature].dropna()
        assert tests.loc[feature, "P"] == pytest.approx(wilcoxon(column - 0.2).pvalue, rel=1e-12)
        assert t_result.loc[feature, "P"] == pytest.approx(ttest_1samp(column, 0.2, alternative="greater").pvalue, rel=1e-12)
        oligo, multi = column[column.index.isin(values.index[:20])], column[column.index.isin(values.index[20:])]
        test = mannwhitneyu(oligo, multi)
        assert tests.loc[feature, "U"] == test.statistic and tests.loc[feature, "PGroups"] == pytest.approx(test.pvalue)
        assert tests.loc[feature, "N"] == len(column) and tests.loc[feature, "NMulti"] == 10
    np.testing.assert_allclose(tests["FDR"], _bh(tests["P"].to_numpy()), rtol=1e-12)
    np.testing.assert_allclose(tests["FDRGroups"], _bh(tests["PGroups"].to_numpy()), rtol=1e-12)
    assert tests.loc["f3", "PGroups"] < 0.01
    assert groups.isna().sum() == 0 and (groups == "multi").sum() == 10
    with pytest.raises(ValueError, match="without a lesion count, e.g. P29"):
        variation_tests(values, groups=groups.iloc[:-1])


def test_cli_on_sarc021(sarc021_dir, tmp_path, capsys):
    """`mirv cohort` writes feature_variation.csv; `mirv stats variation` and `cluster-features` read the shipped data."""
    cohort = tmp_path / "cohort"
    features = sarc021_dir / "lung_lesion_features.csv.gz"
    assert main(["cohort", "--features", str(features), "--reduction", "reference", "-o", str(cohort)]) == 0
    out = tmp_path / "variation"
    assert main(["stats", "variation", "--variation", str(cohort / "feature_variation.csv"), "--patients",
                 str(cohort / "patients.csv"), "--restrict-to", str(cohort / "selected_features.csv"), "--threshold", "0.2",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    tests = pd.read_csv(out / "variation_tests.csv").set_index("Feature")
    assert len(tests) == 16
    variation = pd.read_csv(cohort / "feature_variation.csv").set_index("PatientID")
    patients = pd.read_csv(cohort / "patients.csv").set_index("PatientID")
    feature = "wavelet-HHH_firstorder_Median"
    column = variation[feature].dropna()
    lesions = patients["NumLesions"].reindex(column.index)
    assert tests.loc[feature, "N"] == len(column) == (patients["NumLesions"] >= 2).sum() == 85
    assert tests.loc[feature, "P"] == pytest.approx(wilcoxon(column - 0.2).pvalue, rel=1e-12)
    assert tests.loc[feature, "PGroups"] == pytest.approx(mannwhitneyu(column[lesions <= 5], column[lesions > 5]).pvalue)
    assert "oligo (2-5 lesions) = 71, multi = 14" in printed
    provenance = json.loads((out / "variation_provenance.json").read_text(encoding="utf-8"))
    assert provenance["parameters"]["threshold"] == 0.2 and provenance["parameters"]["oligoMax"] == 5

    clusters = tmp_path / "clusters"
    assert main(["stats", "cluster-features", "--features", str(features), "--restrict-to",
                 str(cohort / "selected_features.csv"), "--out", str(clusters)]) == 0
    kept = pd.read_csv(clusters / "cluster_selected.csv")["Feature"].tolist()
    table = LesionTable.read_csv(features)
    assert kept == ClusterSelection().fit(table.frame, pd.read_csv(cohort / "selected_features.csv")["Feature"]).selected
    again = tmp_path / "again"  # the selection is a feature list `mirv cohort --restrict-to` reads
    assert main(["cohort", "--features", str(features), "--restrict-to", str(clusters / "cluster_selected.csv"),
                 "-o", str(again)]) == 0
    assert main(["stats", "variation", "--variation", str(cohort / "feature_variation.csv"), "--columns", "nope",
                 "--out", str(out)]) == 2
    assert "feature(s) not in the table, e.g. ['nope']" in capsys.readouterr().err
