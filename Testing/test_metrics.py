"""MIRV metrics pinned by hand-computed cases, the undefined cases, and scipy as reference."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import variation

from MIRVLib.metrics import coefficient_of_variation, cohort_mirv, patient_mirv, summary_columns


def test_two_orthogonal_lesions():
    row = patient_mirv("P", np.array([[1.0, 0.0], [0.0, 1.0]]), ["A", "B"]).summary()
    assert row["NumLesions"] == 2
    assert row["MIRVMaxDissimilarity"] == 1.0 and row["MIRVMaxDistance"] == math.sqrt(2)
    assert row["MIRVMeanDissimilarity"] == row["MIRVMedianDissimilarity"] == 1.0
    assert row["MIRVStdDissimilarity"] == 0.0 and row["MIRVStdDistance"] == 0.0
    assert row["MostDivergentPairDissimilarity"] == row["MostDivergentPairDistance"] == "A|B"
    assert row["MIRVUndefinedReason"] == ""


def test_three_collinear_lesions():
    # a, b same direction (dissimilarity 0, distance 1); c opposite (dissimilarity 2, distances 2 and 3).
    result = patient_mirv("P", np.array([[1.0, 0, 0], [2.0, 0, 0], [-1.0, 0, 0]]), ["a", "b", "c"])
    np.testing.assert_allclose(result.dissimilarity, [[0, 0, 2], [0, 0, 2], [2, 2, 0]], atol=1e-15)
    np.testing.assert_allclose(result.distance, [[0, 1, 2], [1, 0, 3], [2, 3, 0]])
    row = result.summary()
    assert row["MIRVMaxDissimilarity"] == 2.0
    assert row["MIRVMeanDissimilarity"] == pytest.approx(4 / 3)
    assert row["MIRVMedianDissimilarity"] == 2.0
    assert row["MIRVStdDissimilarity"] == pytest.approx(math.sqrt(8 / 9))
    assert row["MostDivergentPairDissimilarity"] == "a|c"  # tie with b|c: first pair in row order
    assert (row["MIRVMaxDistance"], row["MIRVMeanDistance"], row["MIRVMedianDistance"]) == (3.0, 2.0, 2.0)
    assert row["MIRVStdDistance"] == pytest.approx(math.sqrt(2 / 3))
    assert row["MostDivergentPairDistance"] == "b|c"
    frame = result.frame("dissimilarity")
    assert list(frame.index) == list(frame.columns) == ["a", "b", "c"]


def test_zero_vector_has_no_cosine_but_a_distance(caplog):
    vectors = pd.DataFrame([[3.0, 4.0], [4.0, 3.0], [0.0, 0.0], [-3.0, -4.0]], index=["L1", "L2", "L3", "L4"])
    result = patient_mirv("P9", vectors)
    assert "P9" in caplog.text and "L3" in result.warnings[0]
    assert np.isnan(result.dissimilarity[2]).all() and np.isnan(result.dissimilarity[:, 2]).all()
    row = result.summary()
    # Defined cosine pairs: L1-L2 1 - 24/25, L1-L4 2, L2-L4 1 + 24/25.
    assert row["MIRVMaxDissimilarity"] == 2.0 and row["MostDivergentPairDissimilarity"] == "L1|L4"
    assert row["MIRVMeanDissimilarity"] == pytest.approx(4 / 3)
    assert row["MIRVMedianDissimilarity"] == pytest.approx(1.96)
    assert row["MIRVMaxDistance"] == 10.0 and row["MostDivergentPairDistance"] == "L1|L4"
    assert row["MIRVMeanDistance"] == pytest.approx((25 + 8 * math.sqrt(2)) / 6)
    assert row["MIRVMedianDistance"] == 5.0


def test_one_lesion_is_undefined_not_zero():
    row = patient_mirv("P", np.array([[1.0, 2.0]]), ["L1"]).summary()
    assert row["NumLesions"] == 1 and row["MIRVUndefinedReason"] == "only one lesion"
    assert all(math.isnan(row[c]) for c in summary_columns() if c.startswith("MIRV"))
    assert row["MostDivergentPairDissimilarity"] == ""


def test_all_zero_vectors_leave_only_the_distance():
    row = patient_mirv("P", np.zeros((2, 3)), ["A", "B"]).summary()
    assert math.isnan(row["MIRVMaxDissimilarity"]) and row["MostDivergentPairDissimilarity"] == ""
    assert row["MIRVMaxDistance"] == 0.0


def test_matrices_match_scipy_on_random_vectors():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(7, 16))
    result = patient_mirv("P", vectors)
    np.testing.assert_allclose(result.distance, squareform(pdist(vectors, "euclidean")), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.dissimilarity, squareform(pdist(vectors, "cosine")), rtol=1e-12, atol=1e-12)
    row = result.summary()
    cosine = pdist(vectors, "cosine")
    assert row["MIRVMaxDissimilarity"] == pytest.approx(cosine.max(), rel=1e-12)
    assert row["MIRVStdDissimilarity"] == pytest.approx(np.std(cosine), rel=1e-10)


def test_cohort_keeps_patient_order_and_lesion_labels():
    index = pd.MultiIndex.from_tuples([("Z", "L2"), ("Z", "L1"), ("A", "L1")], names=["PatientID", "LesionID"])
    scaled = pd.DataFrame([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], index=index)
    seen = []
    results = cohort_mirv(scaled, progress=lambda fraction, message: seen.append(fraction))
    assert [r.patient_id for r in results] == ["Z", "A"]
    assert results[0].lesion_ids == ("L2", "L1") and results[1].undefined_reason == "only one lesion"
    assert seen[-1] == 1.0


def test_coefficient_of_variation_matches_scipy():
    rng = np.random.default_rng(5)
    index = pd.MultiIndex.from_tuples([("P1", "a"), ("P1", "b"), ("P1", "c"), ("P2", "a")])
    raw = pd.DataFrame(rng.uniform(-5, 10, size=(4, 3)), index=index, columns=["f1", "f2", "f3"])
    raw.loc[("P1", "a"):("P1", "c"), "f3"] = [-1.0, 0.0, 1.0]  # mean 0: undefined
    cov = coefficient_of_variation(raw)
    expected = np.abs(variation(raw.loc["P1", ["f1", "f2"]].to_numpy(), axis=0))
    np.testing.assert_allclose(cov.loc["P1", ["f1", "f2"]].to_numpy(), expected, rtol=1e-12)
    assert np.isnan(cov.loc["P1", "f3"]) and cov.loc["P2"].isna().all()


def test_a_failing_patient_is_reported_and_the_cohort_continues(monkeypatch):
    import MIRVLib.metrics as metrics

    real = metrics.patient_mirv

    def flaky(patient_id, vectors, lesion_ids=None):
        if patient_id == "BAD":
            raise RuntimeError("corrupt vectors")
        return real(patient_id, vectors, lesion_ids)

    monkeypatch.setattr(metrics, "patient_mirv", flaky)
    index = pd.MultiIndex.from_tuples([("BAD", "L1"), ("BAD", "L2"), ("OK", "L1"), ("OK", "L2")])
    results = cohort_mirv(pd.DataFrame([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]], index=index))
    bad, ok = results
    assert bad.undefined_reason == "error: corrupt vectors" and np.isnan(bad.summary()["MIRVMaxDistance"])
    assert bad.frame("distance").shape == (2, 2)
    assert ok.summary()["MIRVMaxDistance"] == math.sqrt(2)
