"""Console summaries of the newer `mirv stats` commands (roc, model, cox discrimination, combat, icc, variation,
cluster-features): every printed number is the number the same run wrote to its CSV, rounded by
``summary.format_number`` / ``format_p`` / ``format_interval`` (issue #15). Small data, few folds and resamples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from summary_text import cells, facts, row, run, table_args

from MIRVLib.cli import main
from MIRVLib.stats.summary import format_interval, format_number, format_p


def block(out: str, title: str) -> str:
    """The summary block starting with ``title`` (up to the next block or the 'wrote' line)."""
    lines = out[out.index(title):].splitlines()
    end = next((i for i, line in enumerate(lines[1:], 1) if not line.startswith("  ")), len(lines))
    return "\n".join(lines[:end])


def provenance(folder: Path, name: str) -> dict:
    return json.loads((folder / f"{name}_provenance.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tables(reference_patients_csv, sarc021_dir) -> list[str]:
    return table_args(reference_patients_csv, sarc021_dir)


@pytest.fixture(scope="module")
def cohort(sarc021_dir, tmp_path_factory) -> Path:
    """`mirv cohort` on the shipped lung features: feature_variation.csv and patients.csv for `mirv stats variation`."""
    folder = tmp_path_factory.mktemp("cohort")
    assert main(["cohort", "--features", str(sarc021_dir / "lung_lesion_features.csv.gz"), "--reduction", "reference",
                 "-o", str(folder)]) == 0
    return folder


def test_roc_prints_auc_ci_and_delong_pairs(tmp_path, reference_patients, reference_patients_csv, capsys):
    predictors = ["MIRVMaxDissimilarity", "MIRVMaxDistance", "NumLesions"]
    out = run(capsys, ["stats", "roc", "--table", str(reference_patients_csv), "--outcome", "CompleteTumorResponse",
                       "--predictors", ",".join(predictors), "--ci", "bootstrap", "--bootstrap", "200", "--seed", "7",
                       "--out", str(tmp_path)])
    summary = pd.read_csv(tmp_path / "roc_summary.csv")
    complete = reference_patients.dropna(subset=["CompleteTumorResponse", *predictors])
    record = provenance(tmp_path, "roc")
    positives = int(complete["CompleteTumorResponse"].sum())  # the outcome is 0/1: positive = 1
    assert summary["N"].eq(len(complete)).all() and summary["Positives"].eq(positives).all()
    assert (record["n"], record["positives"]) == (len(complete), positives)
    auc = block(out, "ROC: AUC per predictor")
    assert facts(auc) == {"outcome": "CompleteTumorResponse", "n": format_number(summary["N"].iloc[0]),
                          "positive": format_number(summary["Positives"].iloc[0]), "CI": "bootstrap", "seed": "7"}
    assert len(summary) == 3
    for _, predictor in summary.iterrows():
        assert row(auc, predictor["Predictor"]) == cells(format_number(predictor["AUC"]),
                                                         format_interval(predictor["CILower"], predictor["CIUpper"]))
    pairs = pd.read_csv(tmp_path / "roc_pairs.csv")
    delong = block(out, "DeLong paired tests")
    assert len(pairs) == 3
    for _, pair in pairs.iterrows():
        assert row(delong, f"{pair['PredictorA']} - {pair['PredictorB']}") == [
            format_number(pair["DeltaAUC"]), format_number(pair["Z"]), format_p(pair["P"]), format_p(pair["FDR"])]


def test_model_prints_cv_means_cis_and_the_paired_comparison(tmp_path, tables, capsys):
    out = run(capsys, ["stats", "model", *tables, "--outcome", "CompleteTumorResponse", "--set", "clinical=AGE,BECOG",
                       "--set", "mirv=AGE,BECOG,MIRVMaxDissimilarity", "--folds", "3", "--repeats", "2", "--seed", "9",
                       "--out", str(tmp_path)])
    record = provenance(tmp_path, "model")
    folds = pd.read_csv(tmp_path / "model_folds.csv")
    predictions = pd.read_csv(tmp_path / "model_predictions.csv")
    cv = block(out, "Cross-validated models")
    # model_predictions.csv has one row per patient used, with the outcome
    assert facts(cv) == {"model": "logistic", "n": str(len(predictions)),
                         "positive": str(int(predictions["CompleteTumorResponse"].sum())),
                         "folds": "3", "repeats": "2", "seed": "9"}
    assert (record["n"], record["cases"]) == (len(predictions), predictions["CompleteTumorResponse"].sum())
    assert len(folds) == 2 * 3 * 2 and folds.groupby(["Set", "Repeat"])["NTest"].sum().eq(len(predictions)).all()
    summary = pd.read_csv(tmp_path / "model_summary.csv")
    assert set(summary["Metric"]) >= {"AUC", "CalibrationSlope", "CalibrationIntercept"}
    for _, metric in summary.iterrows():
        assert row(cv, f"{metric['Set']} | {metric['Metric']}") == cells(
            format_number(metric["Mean"]), format_interval(metric["CILower"], metric["CIUpper"]))
    # the printed mean AUC is the mean of the fold AUCs in model_folds.csv
    for name, mean in folds.groupby("Set")["AUC"].mean().items():
        assert row(cv, f"{name} | AUC")[0] == format_number(mean)
    comparison = pd.read_csv(tmp_path / "model_comparison.csv")
    paired = block(out, "Paired comparison")
    assert len(comparison) == 1
    for _, test in comparison.iterrows():
        assert row(paired, f"{test['SetB']} - {test['SetA']} | {test['Metric']}") == cells(
            format_number(test["MeanDifference"]), format_interval(test["CILower"], test["CIUpper"]),
            format_p(test["P"]), format_p(test["FDR"]))


def test_cox_prints_the_discrimination_block(tmp_path, tables, capsys):
    out = run(capsys, ["stats", "cox", *tables, "--duration", "T_OS", "--event", "E_OS",
                       "--covariates", "AGE,MIRVMaxDissimilarity", "--bootstrap", "50", "--seed", "3", "--out", str(tmp_path)])
    table = pd.read_csv(tmp_path / "cox_discrimination.csv")
    model = pd.read_csv(tmp_path / "cox_model.csv").iloc[0]
    discrimination = block(out, "Discrimination on the fitting data")
    assert facts(discrimination) == {"resamples": "50", "seed": "3"}
    assert table["Resamples"].dropna().le(50).all()
    # apparent Harrell's C is the concordance lifelines reports for the same fit
    assert table.set_index("Metric").loc["HarrellC", "Estimate"] == pytest.approx(model["concordance"], rel=1e-9)
    assert list(table["Metric"]) == ["HarrellC", "UnoC", "AUC", "AUC", "AUC", "MeanAUC", "IntegratedBrierScore"]
    for _, metric in table.iterrows():
        label = metric["Metric"] if pd.isna(metric["Time"]) else f"{metric['Metric']} (t = {format_number(metric['Time'])})"
        assert row(discrimination, label) == cells(format_number(metric["Estimate"]),
                                                   format_interval(metric["CILower"], metric["CIUpper"]))


def test_combat_prints_batches_and_the_batch_variance_share(sarc021_dir, tmp_path, capsys):
    baseline = pd.read_csv(sarc021_dir / "baseline-all.csv", encoding="utf-8-sig")
    baseline.rename(columns={"USUBJID": "PatientID"})[["PatientID", "ARM", "AGE", "SEX"]].to_csv(tmp_path / "batch.csv",
                                                                                                   index=False)
    out_dir = tmp_path / "combat"
    out = run(capsys, ["stats", "combat", "--features", str(sarc021_dir / "lung_lesion_features.csv.gz"), "--batch", "ARM",
                       "--batch-table", str(tmp_path / "batch.csv"), "--covariates", "AGE,SEX", "--out", str(out_dir)])
    harmonised = pd.read_csv(out_dir / "combat_features.csv", dtype={"PatientID": str, "LesionID": str})
    variance = pd.read_csv(out_dir / "combat_batch_variance.csv")
    summary = block(out, "ComBat harmonisation across 'ARM'")
    assert facts(summary) == {"lesions": str(len(harmonised)), "patients": str(harmonised["PatientID"].nunique()),
                              "features": str(len(variance)), "batches": "2", "covariates": "AGE,SEX"}
    batches = pd.read_csv(out_dir / "combat_batches.csv", dtype={"Batch": str})
    assert batches["Lesions"].sum() == len(harmonised) == 362
    for _, batch in batches.iterrows():  # no index: the batch label is the first column
        assert row(summary, str(batch["Batch"])) == [format_number(batch[c]) for c in
                                                     ("Lesions", "Patients", "MeanGammaStar", "MeanDeltaStar")]
    before, after = variance["BatchShareBefore"].median(), variance["BatchShareAfter"].median()
    assert after < before
    assert (f"variance explained by batch, median over features: {format_number(100 * before)} % before, "
            f"{format_number(100 * after)} % after") in summary


def test_icc_prints_the_lowest_icc_features_with_cis(tmp_path, capsys):
    rng = np.random.default_rng(3)
    features = {f"F{i:02d}": rng.normal(size=30) for i in range(12)}
    base = pd.DataFrame({"PatientID": np.repeat([f"P{i}" for i in range(10)], 3), "LesionID": ["1", "2", "3"] * 10,
                         **features})
    noise = {name: base[name] + rng.normal(0, 0.1 * (i + 1), 30) + 0.2 * i for i, name in enumerate(features)}
    pd.concat([base.assign(Reader="A"), base.assign(**noise, Reader="B")]).to_csv(tmp_path / "readers.csv", index=False)
    out_dir = tmp_path / "icc"
    out = run(capsys, ["stats", "icc", "--features", str(tmp_path / "readers.csv"), "--rater", "Reader", "--threshold",
                       "0.75", "--out", str(out_dir)])
    table = pd.read_csv(out_dir / "icc_summary.csv")
    assert len(table) == 12 and table["N"].eq(30).all() and table["Raters"].eq(2).all()
    assert facts(out) == {"features": "12", "targets": "30", "raters": "2",
                          "ICC(2,1) >= 0.75": str(int((table["ICC2"] >= 0.75).sum())),
                          "ICC(3,1) >= 0.75": str(int((table["ICC3"] >= 0.75).sum()))}
    shown = table.sort_values("ICC2")
    for _, feature in shown.head(10).iterrows():
        assert row(out, feature["Feature"]) == [format_number(feature[c]) for c in
                                                ("N", "ICC2", "ICC2_CILower", "ICC2_CIUpper", "ICC3", "ICC3_CILower",
                                                 "ICC3_CIUpper")]
    for feature in shown["Feature"].iloc[10:]:
        assert f"  {feature} " not in out
    assert "... 2 more rows in the CSV" in out


def test_variation_prints_cv_tests_and_oligo_vs_multi(cohort, tmp_path, capsys):
    out_dir = tmp_path / "variation"
    out = run(capsys, ["stats", "variation", "--variation", str(cohort / "feature_variation.csv"), "--patients",
                       str(cohort / "patients.csv"), "--restrict-to", str(cohort / "selected_features.csv"),
                       "--threshold", "0.2", "--out", str(out_dir)])
    tests = pd.read_csv(out_dir / "variation_tests.csv")
    values = pd.read_csv(out_dir / "variation_values.csv")
    patients = pd.read_csv(cohort / "patients.csv")
    measured = values.set_index("PatientID").drop(columns="Group").notna().any(axis=1)
    lesions = patients.set_index("PatientID")["NumLesions"].reindex(measured[measured].index)
    assert len(tests) == 16 and tests["N"].max() == len(lesions) == 85 and lesions.min() == 2
    assert facts(out) == {
        "patients": f"{len(lesions)} of {len(values)}", "features": "16", "threshold": "0.2", "test": "wilcoxon",
        "alternative": "two-sided", "FDR < 0.05": str(int((tests["FDR"] < 0.05).sum())),
        "oligo (2-5 lesions)": str(int((lesions <= 5).sum())), "multi": str(int((lesions > 5).sum())),
        "oligo vs multi FDR < 0.05": str(int((tests["FDRGroups"] < 0.05).sum()))}
    shown = tests.sort_values("P", kind="stable")
    for _, feature in shown.head(10).iterrows():
        assert row(out, feature["Feature"]) == [
            format_number(feature["N"]), format_number(feature["MedianAbsCV"]), format_p(feature["P"]),
            format_p(feature["FDR"]), format_number(feature["MedianOligo"]), format_number(feature["MedianMulti"]),
            format_p(feature["PGroups"]), format_p(feature["FDRGroups"])]
    assert "... 6 more rows in the CSV" in out


def test_cluster_features_prints_the_kept_feature_of_each_cluster(sarc021_dir, cohort, tmp_path, capsys):
    out_dir = tmp_path / "clusters"
    features = sarc021_dir / "lung_lesion_features.csv.gz"
    out = run(capsys, ["stats", "cluster-features", "--features", str(features), "--restrict-to",
                       str(cohort / "selected_features.csv"), "--out", str(out_dir)])
    clusters = pd.read_csv(out_dir / "cluster_features.csv")
    selected = pd.read_csv(out_dir / "cluster_selected.csv")
    record = provenance(out_dir, "cluster_features")
    sizes = clusters.groupby("Cluster").size()
    assert facts(out) == {"lesions": str(record["n"]), "features": str(len(clusters)), "clusters": str(len(selected)),
                          "largest cluster": str(sizes.max()),
                          **{key: format_number(value) for key, value in record["parameters"].items()}}
    assert record["n"] == 362 and len(clusters) == 16
    kept = clusters[clusters["Selected"]].assign(Size=lambda f: sizes.reindex(f["Cluster"]).to_numpy())
    assert kept["Feature"].tolist() == selected["Feature"].tolist()
    shown = kept.sort_values("Size", ascending=False, kind="stable")
    for _, feature in shown.head(15).iterrows():
        assert row(out, feature["Feature"]) == [format_number(feature["Cluster"]), format_number(feature["Size"]),
                                                format_number(feature["MeanAbsCorrelation"])]
    for feature in shown["Feature"].iloc[15:]:
        assert f"  {feature} " not in out
    assert f"... {len(shown) - 15} more rows in the CSV" in out
