"""`mirv stats roc`: AUC against scikit-learn, DeLong's variance and paired test against the structural-components
formulas written out here, a hand case, the bootstrap CI, the CLI files and its bad-input errors."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from MIRVLib.cli import main
from MIRVLib.stats.roc import DeLong, roc_analysis

PNG = b"\x89PNG\r\n\x1a\n"


def structural_components(scores: np.ndarray, outcome: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) written out with loops: AUC_k = mean V10, S = S10/m + S01/n."""
    positives, negatives = np.flatnonzero(outcome == 1), np.flatnonzero(outcome == 0)
    m, n, k = len(positives), len(negatives), scores.shape[1]
    v10, v01 = np.zeros((k, m)), np.zeros((k, n))
    for r in range(k):
        for a, i in enumerate(positives):
            for b, j in enumerate(negatives):
                psi = 1.0 if scores[i, r] > scores[j, r] else 0.5 if scores[i, r] == scores[j, r] else 0.0
                v10[r, a] += psi / n
                v01[r, b] += psi / m
    auc = v10.mean(axis=1)
    s10 = np.array([[np.sum((v10[p] - auc[p]) * (v10[q] - auc[q])) / (m - 1) for q in range(k)] for p in range(k)])
    s01 = np.array([[np.sum((v01[p] - auc[p]) * (v01[q] - auc[q])) / (n - 1) for q in range(k)] for p in range(k)])
    return auc, s10 / m + s01 / n


def test_hand_case():
    # positives 0.35, 0.8 vs negatives 0.1, 0.4: 0.35 beats 0.1 only; V10 = (0.5, 1), V01 = (1, 0.5)
    delong = DeLong.fit(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    assert delong.auc[0] == 0.75
    assert delong.covariance[0, 0] == pytest.approx(0.125 / 2 + 0.125 / 2)  # var(V10)/m + var(V01)/n
    lower, upper = delong.interval(0)
    assert (lower, upper) == pytest.approx((0.75 - norm.ppf(0.975) * np.sqrt(0.125), 1.0))  # clipped at 1


@pytest.mark.parametrize("seed", [0, 1])
def test_random_data_with_ties_match_sklearn_and_structural_components(seed):
    rng = np.random.default_rng(seed)
    outcome = rng.integers(0, 2, 60)
    scores = np.column_stack([outcome + rng.normal(0, 1, 60), np.round(outcome * 0.5 + rng.normal(0, 1, 60)),
                              rng.integers(0, 4, 60).astype(float)])  # rounded / integer scores: many ties
    delong = DeLong.fit(scores, outcome)
    auc, covariance = structural_components(scores, outcome)
    np.testing.assert_allclose(delong.auc, [roc_auc_score(outcome, scores[:, k]) for k in range(3)], rtol=1e-12)
    np.testing.assert_allclose(delong.auc, auc, rtol=1e-12)
    np.testing.assert_allclose(delong.covariance, covariance, rtol=1e-10)
    for a, b in combinations(range(3), 2):
        delta, z, p = delong.paired_test(a, b)
        expected_z = (auc[a] - auc[b]) / np.sqrt(covariance[a, a] + covariance[b, b] - 2 * covariance[a, b])
        assert delta == pytest.approx(auc[a] - auc[b]) and z == pytest.approx(expected_z, rel=1e-10)
        assert p == pytest.approx(2 * norm.sf(abs(expected_z)), rel=1e-10)


def test_sarc021_values_and_fdr(reference_patients):
    predictors = ["MIRVMaxDissimilarity", "MIRVMaxDistance", "BaselineVolumeTotal"]
    result = roc_analysis(reference_patients, "CompleteTumorResponse", predictors)
    data = reference_patients.dropna(subset=["CompleteTumorResponse", *predictors])
    y = data["CompleteTumorResponse"].to_numpy(dtype=int)
    auc, covariance = structural_components(data[predictors].to_numpy(dtype=float), y)
    assert result.n == len(data) == 85 and result.positives == y.sum()
    np.testing.assert_allclose(result.summary["AUC"], [roc_auc_score(y, data[p]) for p in predictors], rtol=1e-12)
    np.testing.assert_allclose(result.summary["SE"], np.sqrt(np.diag(covariance)), rtol=1e-10)
    p = result.pairs["P"].to_numpy()
    ranked = np.argsort(p)  # BH by hand: min over j ≥ rank of p_(j) · m / j
    bh = np.minimum.accumulate((p[ranked] * len(p) / np.arange(1, len(p) + 1))[::-1])[::-1]
    np.testing.assert_allclose(result.pairs["FDR"].to_numpy()[ranked], np.minimum(bh, 1), rtol=1e-12)


def test_bootstrap_interval_is_seeded_and_covers_the_auc(reference_patients):
    kwargs = {"ci": "bootstrap", "resamples": 300}
    first = roc_analysis(reference_patients, "CompleteTumorResponse", ["MIRVMaxDissimilarity"], seed=3, **kwargs).summary
    again = roc_analysis(reference_patients, "CompleteTumorResponse", ["MIRVMaxDissimilarity"], seed=3, **kwargs).summary
    other = roc_analysis(reference_patients, "CompleteTumorResponse", ["MIRVMaxDissimilarity"], seed=4, **kwargs).summary
    assert first.equals(again) and not first.equals(other)
    row = first.iloc[0]
    assert row["CIMethod"] == "bootstrap" and row["CILower"] < row["AUC"] < row["CIUpper"]
    delong = roc_analysis(reference_patients, "CompleteTumorResponse", ["MIRVMaxDissimilarity"]).summary.iloc[0]
    assert abs((row["CIUpper"] - row["CILower"]) - (delong["CIUpper"] - delong["CILower"])) < 0.05  # same width roughly


def test_cli_files_summary_and_provenance(reference_patients_csv, tmp_path, capsys):
    predictors = "MIRVMaxDissimilarity,MIRVMaxDistance"
    assert main(["stats", "roc", "--table", str(reference_patients_csv), "--outcome", "CompleteTumorResponse",
                 "--predictors", predictors, "--ci", "bootstrap", "--bootstrap", "200", "--seed", "7",
                 "--out", str(tmp_path)]) == 0
    summary = pd.read_csv(tmp_path / "roc_summary.csv")
    pairs = pd.read_csv(tmp_path / "roc_pairs.csv")
    assert list(summary.columns[:5]) == ["Predictor", "N", "AUC", "CILower", "CIUpper"]
    assert list(pairs.columns) == ["PredictorA", "PredictorB", "N", "DeltaAUC", "Z", "P", "FDR"]
    assert pairs["DeltaAUC"].iloc[0] == pytest.approx(summary["AUC"].iloc[0] - summary["AUC"].iloc[1])
    assert (tmp_path / "roc_curves.png").read_bytes()[:8] == PNG
    record = json.loads((tmp_path / "roc_provenance.json").read_text(encoding="utf-8"))
    assert record["parameters"]["seed"] == 7 and record["parameters"]["resamples"] == 200 and record["n"] == 85
    printed = capsys.readouterr().out
    assert "DeLong paired tests" in printed and f"{summary['AUC'].iloc[0]:.3g}" in printed


@pytest.mark.parametrize(("args", "message"), [
    (["--outcome", "NumLesions", "--predictors", "MIRVMaxDistance"], "exactly two values"),
    (["--outcome", "CompleteTumorResponse", "--predictors", "NoSuchColumn"], "NoSuchColumn"),
    (["--outcome", "CompleteTumorResponse", "--predictors", "CompleteTumorResponse"], "also listed as a predictor"),
])
def test_bad_input_exits_2_naming_the_column(reference_patients_csv, tmp_path, capsys, args, message):
    assert main(["stats", "roc", "--table", str(reference_patients_csv), *args, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
