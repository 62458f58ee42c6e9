"""Survival discrimination (Harrell's and Uno's C, cumulative/dynamic AUC, Brier score, IBS) against
scikit-survival on its bundled data sets and lifelines, and `mirv stats cox`'s cox_discrimination.csv."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.utils import concordance_index

from MIRVLib.cli import main
from MIRVLib.stats import discrimination as D


@pytest.fixture(scope="module")
def sksurv_metrics():
    """scikit-survival, for the agreement tests only: the rest runs where the reference is not installed (the
    interpreter matrix)."""
    return pytest.importorskip("sksurv.metrics")


def _cohort(name: str):
    """(structured y, time, event, risk, fitted lifelines model, covariates) of a bundled data set; numeric covariates."""
    X, y = getattr(pytest.importorskip("sksurv.datasets"), name)()
    X = X.select_dtypes("number").astype(float)
    X = (X - X.mean()) / X.std()
    event_field, time_field = y.dtype.names
    time, event = y[time_field].astype(float), y[event_field].astype(bool)
    fitter = CoxPHFitter(penalizer=0.01).fit(X.assign(T=time, E=event.astype(int)), "T", "E")
    return y, time, event, fitter.predict_log_partial_hazard(X).to_numpy(), fitter, X


@pytest.fixture(scope="module", params=["load_veterans_lung_cancer", "load_whas500", "load_gbsg2"])
def cohort(request):
    return _cohort(request.param)


def test_harrell_c_equals_sksurv_and_lifelines(cohort, sksurv_metrics):
    y, time, event, risk, _, _ = cohort
    c = D.harrell_c(time, event, risk)
    assert c == pytest.approx(sksurv_metrics.concordance_index_censored(event, time, risk)[0], abs=1e-12)
    assert c == pytest.approx(concordance_index(time, -risk, event), abs=1e-12)


def test_blocked_pair_comparison_gives_the_same_c(cohort, monkeypatch, sksurv_metrics):
    y, time, event, risk, _, _ = cohort
    monkeypatch.setattr(D, "CHUNK", 7)  # many blocks of events instead of one
    assert D.harrell_c(time, event, risk) == pytest.approx(sksurv_metrics.concordance_index_censored(event, time, risk)[0],
                                                           abs=1e-12)
    assert D.uno_c(time, event, time, event, risk) == pytest.approx(sksurv_metrics.concordance_index_ipcw(y, y, risk)[0],
                                                                    abs=1e-10)


def test_uno_c_equals_sksurv_with_and_without_tau(cohort, sksurv_metrics):
    y, time, event, risk, _, _ = cohort
    tau = float(np.quantile(time, 0.75))
    assert D.uno_c(time, event, time, event, risk) == pytest.approx(sksurv_metrics.concordance_index_ipcw(y, y, risk)[0],
                                                                    abs=1e-10)
    assert D.uno_c(time, event, time, event, risk, tau=tau) == pytest.approx(
        sksurv_metrics.concordance_index_ipcw(y, y, risk, tau=tau)[0], abs=1e-10)
    train, test = np.arange(len(time)) % 3 != 0, np.arange(len(time)) % 3 == 0  # separate censoring data
    tau = float(time[train].max())
    expected = sksurv_metrics.concordance_index_ipcw(y[train], y[test], risk[test], tau=tau)[0]
    assert D.uno_c(time[train], event[train], time[test], event[test], risk[test], tau=tau) == pytest.approx(expected, abs=1e-10)


def test_cumulative_dynamic_auc_equals_sksurv(cohort, sksurv_metrics):
    y, time, event, risk, _, _ = cohort
    times = np.quantile(time[event], [0.1, 0.3, 0.5, 0.7, 0.85])
    expected, expected_mean = sksurv_metrics.cumulative_dynamic_auc(y, y, risk, times)
    scores, mean = D.cumulative_dynamic_auc(time, event, time, event, risk, times)
    np.testing.assert_allclose(scores, expected, atol=1e-10)
    assert mean == pytest.approx(expected_mean, abs=1e-10)
    time_dependent = np.column_stack([risk * (1 + 0.1 * k) + 0.05 * k * np.sin(np.arange(len(risk))) for k in range(5)])
    np.testing.assert_allclose(D.cumulative_dynamic_auc(time, event, time, event, time_dependent, times)[0],
                               sksurv_metrics.cumulative_dynamic_auc(y, y, time_dependent, times)[0], atol=1e-10)


def test_brier_and_integrated_brier_equal_sksurv(cohort, sksurv_metrics):
    y, time, event, _, fitter, X = cohort
    times = np.linspace(*np.quantile(time, [0.1, 0.8]), 25)
    survival = fitter.predict_survival_function(X, times=times).to_numpy().T
    expected_times, expected = sksurv_metrics.brier_score(y, y, survival, times)
    got_times, got = D.brier_score(time, event, time, event, survival, times)
    np.testing.assert_allclose(got_times, expected_times)
    np.testing.assert_allclose(got, expected, atol=1e-10)
    assert D.integrated_brier_score(time, event, time, event, survival, times) == pytest.approx(
        sksurv_metrics.integrated_brier_score(y, y, survival, times), abs=1e-10)


def test_censoring_distribution_is_the_reverse_kaplan_meier():
    time = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 5.0])
    event = np.array([1, 0, 1, 0, 1, 0])
    g = D.CensoringDistribution().fit(time, event)
    # censored at 2 (5 at risk minus the event at 2 → 4) and 3 (3 at risk): G = 3/4, then 3/4 · 2/3 = 1/2
    np.testing.assert_allclose(g.predict([0.5, 1.0, 2.0, 2.5, 3.0, 4.9]), [1, 1, 0.75, 0.75, 0.5, 0.5])
    assert g.predict([6.0])[0] == 0.0  # last time censored: G reaches 0
    with pytest.raises(ValueError, match="after the last training time"):
        D.CensoringDistribution().fit([1.0, 2.0, 3.0], [0, 1, 1]).predict([4.0])


def test_times_outside_follow_up_are_an_error():
    with pytest.raises(ValueError, match="within the follow-up"):
        D.cumulative_dynamic_auc([1, 2, 3, 4], [1, 1, 0, 1], [1, 2, 3, 4], [1, 1, 0, 1], [4, 3, 2, 1], [5.0])


def test_cox_command_writes_discrimination(reference_patients_csv, sarc021_dir, tmp_path, capsys):
    tables = ["--table", str(reference_patients_csv), "--table", str(sarc021_dir / "survival-all.csv"),
              "--table", str(sarc021_dir / "baseline-all.csv"), "--id", "PatientID,USUBJID"]
    assert main(["stats", "cox", *tables, "--duration", "T_OS", "--event", "E_OS", "--covariates",
                 "AGE,BECOG,MIRVMaxDissimilarity", "--times", "0.5,1,1.5", "--bootstrap", "100", "--seed", "2",
                 "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "cox_discrimination.csv").set_index("Metric")
    model = pd.read_csv(tmp_path / "cox_model.csv").iloc[0]
    assert table.loc["HarrellC", "Estimate"] == pytest.approx(model["concordance"], abs=1e-12)  # lifelines' own C
    assert table.loc["HarrellC", "CILower"] < table.loc["HarrellC", "Estimate"] < table.loc["HarrellC", "CIUpper"]
    assert table.loc["AUC", "Time"].tolist() == [0.5, 1.0, 1.5]
    assert {"UnoC", "MeanAUC", "IntegratedBrierScore"} <= set(table.index)
    record = json.loads((tmp_path / "cox_provenance.json").read_text(encoding="utf-8"))
    assert record["parameters"]["seed"] == 2 and record["parameters"]["times"] == [0.5, 1.0, 1.5]
    assert "Discrimination on the fitting data" in capsys.readouterr().out
