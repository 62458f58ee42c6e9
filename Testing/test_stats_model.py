"""`mirv stats model`: folds reproducible by seed, fold scores and the corrected resampled t recomputed
independently (scikit-learn, lifelines, SciPy), calibration, the survival variant and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from lifelines import CoxPHFitter
from lifelines.utils import concordance_index
from scipy.stats import t as student_t
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from MIRVLib.cli import main
from MIRVLib.stats.join import detect_types
from MIRVLib.stats.model_cv import cross_validate, fold_splits, parse_sets

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 90
    frame = pd.DataFrame({"ID": [f"p{i}" for i in range(n)], "a": rng.normal(size=n), "b": rng.normal(size=n),
                          "site": rng.choice(["x", "y", "z"], n)})
    frame["y"] = (frame["a"] + 0.8 * frame["b"] + rng.normal(size=n) > 0).astype(int)
    frame["T"] = rng.exponential(np.exp(-(frame["a"] + 0.5 * frame["b"])))
    frame["E"] = (rng.uniform(size=n) < 0.75).astype(int)
    return frame


def test_folds_are_reproducible_by_seed():
    strata = np.array([0, 1] * 20)
    first, again, other = (fold_splits(strata, 5, 3, s) for s in (11, 11, 12))
    assert all(np.array_equal(a[3], b[3]) for a, b in zip(first, again))
    assert not all(np.array_equal(a[3], b[3]) for a, b in zip(first, other))
    for repeat in (1, 2, 3):  # each repeat's test folds partition the patients, stratified
        tests = [f[3] for f in first if f[0] == repeat]
        assert sorted(np.concatenate(tests).tolist()) == list(range(40))
        assert all(strata[t].sum() == 4 for t in tests)


def test_logistic_fold_auc_equals_sklearn_and_summary_uses_corrected_t(data):
    sets = {"a": ["a"], "ab": ["a", "b"]}
    result = cross_validate(data, sets, detect_types(data), outcome="y", folds=5, repeats=4, seed=1, id_column="ID")
    again = cross_validate(data, sets, detect_types(data), outcome="y", folds=5, repeats=4, seed=1, id_column="ID")
    pd.testing.assert_frame_equal(result.folds, again.folds)
    splits = fold_splits(data["y"].to_numpy(), 5, 4, 1)
    _, _, train, test = splits[6]
    X, y = data[["a", "b"]].to_numpy(), data["y"].to_numpy()
    direct = LogisticRegression(C=np.inf, max_iter=5000).fit(X[train], y[train])  # scaling does not change an unpenalised fit
    row = result.folds[(result.folds["Set"] == "ab")].iloc[6]
    assert (row["Repeat"], row["Fold"]) == (2, 2)
    assert row["AUC"] == pytest.approx(roc_auc_score(y[test], direct.decision_function(X[test])), abs=1e-9)
    values = result.folds.loc[result.folds["Set"] == "ab", "AUC"].to_numpy()
    se = np.sqrt((1 / 20 + 1 / 4) * values.var(ddof=1))  # Nadeau–Bengio: n_test / n_train = 1/4 for 5 folds
    summary = result.summary.set_index(["Set", "Metric"])
    assert summary.loc[("ab", "AUC"), "Mean"] == pytest.approx(values.mean())
    assert summary.loc[("ab", "AUC"), "CIUpper"] == pytest.approx(values.mean() + student_t.ppf(0.975, 19) * se)
    difference = values - result.folds.loc[result.folds["Set"] == "a", "AUC"].to_numpy()
    t = difference.mean() / np.sqrt((1 / 20 + 1 / 4) * difference.var(ddof=1))
    comparison = result.comparison.iloc[0]
    assert (comparison["SetA"], comparison["SetB"]) == ("a", "ab")
    assert comparison["T"] == pytest.approx(t) and comparison["P"] == pytest.approx(2 * student_t.sf(abs(t), 19))
    # calibration slope: logistic regression on each repeat's out-of-fold logits, averaged over repeats
    slopes = []
    for repeat in range(1, 5):
        p = np.zeros(len(y))
        for r, _, tr, te in splits:
            if r == repeat:
                model = make_pipeline(StandardScaler(), LogisticRegression(C=np.inf, max_iter=5000))
                p[te] = model.fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
        slopes.append(sm.Logit(y, sm.add_constant(np.log(p / (1 - p)))).fit(disp=0).params[1])
    assert summary.loc[("ab", "CalibrationSlope"), "Mean"] == pytest.approx(np.mean(slopes), rel=1e-5)
    assert result.predictions.columns.tolist() == ["ID", "y", "a", "ab"] and len(result.predictions) == len(data)


def test_categorical_columns_are_dummy_coded(data):
    result = cross_validate(data, {"site": ["site", "a"]}, detect_types(data), outcome="y", folds=3, repeats=1, seed=0)
    assert result.summary["DesignColumns"].iloc[0] == 3  # a + two dummies of three sites


def test_cox_fold_concordance_equals_lifelines(data):
    result = cross_validate(data, {"a": ["a"], "ab": ["a", "b"]}, detect_types(data), duration="T", event="E", folds=4,
                            repeats=2, seed=3, times=[0.2, 0.5, 0.8])
    _, _, train, test = fold_splits(data["E"].to_numpy(), 4, 2, 3)[5]
    fitter = CoxPHFitter().fit(data.loc[train, ["a", "b", "T", "E"]], "T", "E")
    risk = fitter.predict_partial_hazard(data.loc[test, ["a", "b"]])
    row = result.folds[result.folds["Set"] == "ab"].iloc[5]
    assert row["HarrellC"] == pytest.approx(concordance_index(data.loc[test, "T"], -risk, data.loc[test, "E"]), abs=1e-6)
    metrics = set(result.summary["Metric"])
    assert {"HarrellC", "UnoC", "MeanAUC", "IntegratedBrierScore", "CalibrationSlope"} <= metrics
    assert "CalibrationIntercept" not in metrics  # no baseline to calibrate against in a Cox model


def test_cox_rare_category_absent_from_a_training_fold_is_left_out_of_that_fold(data):
    rare = data.assign(site=np.where(np.arange(len(data)) < 1, "rare", "common"))  # its test fold trains without it
    result = cross_validate(rare, {"s": ["a", "site"]}, detect_types(rare), duration="T", event="E", folds=5, repeats=2,
                            seed=0)
    assert result.folds["Fitted"].all() and result.folds["HarrellC"].notna().all()


def test_parse_sets_and_bad_input(data):
    assert parse_sets(["c=A, B", "m=C"]) == {"c": ["A", "B"], "m": ["C"]}
    for bad in (["c"], ["c=A", "c=B"], ["=A"]):
        with pytest.raises(ValueError, match="--set"):
            parse_sets(bad)
    with pytest.raises(ValueError, match="either --outcome"):
        cross_validate(data, {"a": ["a"]}, {}, outcome="y", duration="T", event="E")
    with pytest.raises(ValueError, match="also used as features"):
        cross_validate(data, {"a": ["a", "y"]}, {}, outcome="y")
    with pytest.raises(ValueError, match="patients in each class"):
        cross_validate(data.head(8), {"a": ["a"]}, {}, outcome="y", folds=5)


def test_cli_writes_tables_figure_and_seed(reference_patients_csv, sarc021_dir, tmp_path, capsys):
    tables = ["--table", str(reference_patients_csv), "--table", str(sarc021_dir / "baseline-all.csv"),
              "--id", "PatientID,USUBJID"]
    assert main(["stats", "model", *tables, "--outcome", "CompleteTumorResponse", "--set", "clinical=AGE,BECOG",
                 "--set", "mirv=AGE,BECOG,MIRVMaxDissimilarity", "--folds", "4", "--repeats", "3", "--seed", "9",
                 "--out", str(tmp_path)]) == 0
    for name in ("model_summary", "model_folds", "model_comparison", "model_predictions"):
        assert (tmp_path / f"{name}.csv").exists()
    assert len(pd.read_csv(tmp_path / "model_folds.csv")) == 2 * 4 * 3
    assert (tmp_path / "model_folds.png").read_bytes()[:8] == PNG
    record = json.loads((tmp_path / "model_provenance.json").read_text(encoding="utf-8"))
    assert record["parameters"]["seed"] == 9 and record["parameters"]["sets"]["clinical"] == ["AGE", "BECOG"]
    assert "Paired comparison" in capsys.readouterr().out
    assert main(["stats", "model", *tables, "--set", "clinical=AGE", "--out", str(tmp_path / "bad")]) == 2
    assert "either --outcome" in capsys.readouterr().err
