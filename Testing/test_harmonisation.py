"""ComBat harmonisation: agreement with neuroCombat (the reference implementation), fit/transform, model files,
`mirv stats combat` and `mirv cohort --harmonise`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from MIRVLib.cli import main
from MIRVLib.harmonisation import ComBat, HarmonisationError, batch_variance_share
from MIRVLib.lesion_table import LesionTable
from MIRVLib.model_schema import model_problems
from MIRVLib.reduction import FeatureReduction


@pytest.fixture(scope="module")
def neuro():
    """neuroCombat, for the agreement tests only: the rest runs where the reference is not installed (the
    interpreter matrix)."""
    return pytest.importorskip("neuroCombat")


def _reference(neuro, values: pd.DataFrame, meta: pd.DataFrame, batch: str, categorical=(), continuous=()) -> np.ndarray:
    """neuroCombat on (features × lesions) float64 data (a DataFrame would be cast to float32 by it)."""
    out = neuro.neuroCombat(values.to_numpy().T.copy(), meta.reset_index(drop=True), batch,
                            categorical_cols=list(categorical), continuous_cols=list(continuous))
    return out["data"].T


def _assert_agrees(ours: pd.DataFrame, reference: np.ndarray, values: pd.DataFrame) -> None:
    """Within 1e-8 of each feature's standard deviation (features span 1e-3 to 1e11)."""
    scale = values.std().to_numpy()
    assert np.max(np.abs(ours.to_numpy() - reference) / scale) < 1e-8


@pytest.fixture(scope="module")
def synthetic():
    """60 lesions, 30 features, 3 batches with additive and multiplicative effects, age and sex effects.

    Ages are integers: neuroCombat casts continuous covariates to float32, exact for these."""
    rng = np.random.default_rng(7)
    n, p = 60, 30
    batch = np.repeat(["siteA", "siteB", "siteC"], [15, 20, 25])
    age = rng.integers(20, 80, n).astype(float)
    sex = rng.choice(["F", "M"], n)
    grade = rng.choice(["low", "mid", "high"], n)
    values = rng.normal(size=(n, p)) * rng.uniform(0.5, 3, p) + rng.normal(size=p) * 5
    values += (batch == "siteB")[:, None] * rng.normal(2, 1, p) + age[:, None] * 0.05 + (sex == "M")[:, None]
    values[batch == "siteC"] *= 2.0
    index = pd.MultiIndex.from_arrays([[f"P{i // 2}" for i in range(n)], [f"L{i % 2}" for i in range(n)]],
                                      names=["PatientID", "LesionID"])
    features = pd.DataFrame(values, index=index, columns=[f"f{i}" for i in range(p)])
    meta = pd.DataFrame({"Site": batch, "AGE": age, "SEX": sex, "GRADE": grade}, index=index)
    return features, meta


def test_agrees_with_neurocombat_without_covariates(synthetic, neuro):
    features, meta = synthetic
    ours = ComBat("Site").fit_transform(features, meta)
    _assert_agrees(ours, _reference(neuro, features, meta[["Site"]], "Site"), features)
    assert not np.allclose(ours.to_numpy(), features.to_numpy())  # it did something


def test_agrees_with_neurocombat_with_continuous_and_categorical_covariates(synthetic, neuro):
    features, meta = synthetic
    combat = ComBat("Site", ["AGE", "SEX", "GRADE"])
    ours = combat.fit_transform(features, meta)
    reference = _reference(neuro, features, meta, "Site", categorical=["SEX", "GRADE"], continuous=["AGE"])
    _assert_agrees(ours, reference, features)
    assert combat.design_columns == ["SEX=M", "GRADE=low", "GRADE=mid", "AGE"]
    estimates = neuro.neuroCombat(features.to_numpy().T.copy(), meta.reset_index(drop=True), "Site",
                                  categorical_cols=["SEX", "GRADE"], continuous_cols=["AGE"])["estimates"]
    np.testing.assert_allclose(combat.gamma, estimates["gamma.star"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(combat.delta, estimates["delta.star"], rtol=1e-9)
    np.testing.assert_allclose(combat.pooled_variance, estimates["var.pooled"][:, 0], rtol=1e-12)


@pytest.fixture(scope="module")
def sarc021(sarc021_dir):
    """Shipped SARC021 lung lesion features in two pseudo-batches (treatment arm), with age and sex.

    The 40 features constant within an arm are left out of the comparison: the references test a zero scale
    *after* standardising, where rounding leaves ~1e-33, so their γ*/δ* (and the shared priors) are rounding noise."""
    table = LesionTable.read_csv(sarc021_dir / "lung_lesion_features.csv.gz")
    baseline = pd.read_csv(sarc021_dir / "baseline-all.csv", encoding="utf-8-sig").set_index("USUBJID")
    features = table.features
    patients = features.index.get_level_values("PatientID")
    meta = pd.DataFrame({"ARM": baseline["ARM"].reindex(patients).astype(str).to_numpy(),
                         "AGE": baseline["AGE"].reindex(patients).to_numpy(dtype=float),
                         "SEX": baseline["SEX"].reindex(patients).to_numpy()}, index=features.index)
    varies = features.groupby(meta["ARM"].to_numpy()).agg(np.ptp).gt(0).all()
    assert (~varies).sum() == 40
    return features.loc[:, varies], meta


def test_agrees_with_neurocombat_on_the_sarc021_feature_table(sarc021, neuro):
    features, meta = sarc021
    ours = ComBat("ARM", ["AGE", "SEX"]).fit_transform(features, meta)
    _assert_agrees(ours, _reference(neuro, features, meta, "ARM", categorical=["SEX"], continuous=["AGE"]), features)


def test_transform_of_held_out_lesions_equals_neurocombat_from_training(synthetic, neuro):
    """neuroCombatFromTraining's formula, on neuroCombat's own estimates. (Calling it fails under NumPy 2:
    ``int()`` of a 1-element array.)"""
    features, meta = synthetic
    held_out = np.arange(len(features)) % 4 == 0
    combat = ComBat("Site").fit(features[~held_out], meta[~held_out])
    estimates = neuro.neuroCombat(features[~held_out].to_numpy().T.copy(),
                                  meta.loc[~held_out, ["Site"]].reset_index(drop=True), "Site")["estimates"]
    rows = [list(estimates["batches"]).index(b) for b in meta.loc[held_out, "Site"]]
    pooled_sd, grand_mean = np.sqrt(estimates["var.pooled"][:, 0]), estimates["stand.mean"][:, 0]
    standardised = (features[held_out].to_numpy() - grand_mean) / pooled_sd
    reference = (standardised - estimates["gamma.star"][rows]) / np.sqrt(estimates["delta.star"][rows]) * pooled_sd + grand_mean
    _assert_agrees(combat.transform(features[held_out], meta[held_out]), reference, features)


def test_transform_with_covariates_maps_a_copy_of_a_training_lesion_to_its_harmonised_value(synthetic):
    """neuroCombatFromTraining applies the *mean* covariate effect; ours applies each lesion's own, so a new
    lesion identical to a training lesion (values, batch, covariates) must come out exactly as that lesion did."""
    features, meta = synthetic
    combat = ComBat("Site", ["AGE", "SEX"])
    harmonised = combat.fit_transform(features, meta)
    copies = features.iloc[[3, 40]].rename(index={"P1": "new", "P20": "new2"})
    copy_meta = meta.iloc[[3, 40]].rename(index={"P1": "new", "P20": "new2"})
    np.testing.assert_allclose(combat.transform(copies, copy_meta).to_numpy(), harmonised.iloc[[3, 40]].to_numpy(),
                               rtol=1e-13)


def test_harmonised_batches_have_near_equal_means_and_variances(synthetic):
    """The property ComBat is for: batch explains a large share of variance before and almost none after."""
    features, meta = synthetic
    harmonised = ComBat("Site").fit_transform(features, meta)
    before = batch_variance_share(features, meta["Site"])
    after = batch_variance_share(harmonised, meta["Site"])
    assert before.median() > 0.15 and after.max() < 0.02
    spread = harmonised.groupby(meta["Site"].to_numpy()).std()
    assert np.max(np.abs(spread / spread.mean() - 1).to_numpy()) < 0.35  # siteC was scaled ×2 before
    raw = features.groupby(meta["Site"].to_numpy()).std()
    assert np.median((raw.loc["siteC"] / raw.loc["siteA"]).to_numpy()) > 1.6


def test_parameters_round_trip_through_json(synthetic):
    features, meta = synthetic
    combat = ComBat("Site", ["AGE", "GRADE"]).fit(features, meta)
    again = ComBat.from_dict(json.loads(json.dumps(combat.to_dict())))
    assert np.array_equal(again.transform(features, meta).to_numpy(), combat.transform(features, meta).to_numpy())
    part = combat.subset(["f3", "f1"])
    np.testing.assert_array_equal(part.transform(features, meta)[["f3", "f1"]].to_numpy(),
                                  combat.transform(features, meta)[["f3", "f1"]].to_numpy())


@pytest.mark.parametrize("change, message", [
    (lambda f, m: (f, m.assign(Site=["solo"] + m["Site"].tolist()[1:])), r"\['solo'\].*single lesion"),
    (lambda f, m: (f.assign(f4=1.5), m), r"constant.*\['f4'\]"),
    (lambda f, m: (f, m.drop(columns="AGE")), r"\['AGE'\] not found"),
    (lambda f, m: (f, m.assign(AGE=[np.nan] + m["AGE"].tolist()[1:])), r"'AGE' is empty for 1 lesion\(s\): P0/L0"),
    (lambda f, m: (f, m.assign(SEX=m["Site"])), "confounded"),
    (lambda f, m: (f, m.assign(Site="siteA")), "at least 2 batches"),
])
def test_bad_input_is_named(synthetic, change, message):
    features, meta = change(*synthetic)
    with pytest.raises(HarmonisationError, match=message):
        ComBat("Site", ["AGE", "SEX"]).fit(features, meta)


def test_transform_refuses_unknown_batches_and_levels(synthetic):
    features, meta = synthetic
    combat = ComBat("Site", ["SEX"]).fit(features, meta)
    with pytest.raises(HarmonisationError, match=r"\['siteZ'\].*not in the data.*P0/L0"):
        combat.transform(features.iloc[:2], meta.iloc[:2].assign(Site=["siteZ", "siteA"]))
    with pytest.raises(HarmonisationError, match=r"'SEX': level\(s\) \['X'\]"):
        combat.transform(features.iloc[:2], meta.iloc[:2].assign(SEX="X"))


def test_model_schema_checks_the_harmonisation_field(synthetic):
    features, meta = synthetic
    combat = ComBat("Site").fit(features, meta)
    model = {"format": "mirv-model", "preset": "paper", "features": [{"name": "f0", "mean": 0.0, "std": 1.0}],
             "harmonisation": combat.to_dict()}
    assert model_problems(model) == []
    model["harmonisation"]["pooledVariance"][2] = -1.0
    model["harmonisation"]["batches"][1]["deltaStar"] = [1.0]
    problems = model_problems(model)
    assert any("pooledVariance" in p for p in problems) and any("batches[1]" in p for p in problems)
    model["harmonisation"] = combat.subset(["f1"]).to_dict()
    assert model_problems(model) == ["field 'harmonisation' has no ComBat parameters for selected feature(s) ['f0']"]


# ----- command line -----
@pytest.fixture(scope="module")
def cli_inputs(sarc021_dir, tmp_path_factory):
    """The SARC021 lung features and a patient-level batch table (arm, age, sex)."""
    folder = tmp_path_factory.mktemp("combat")
    baseline = pd.read_csv(sarc021_dir / "baseline-all.csv", encoding="utf-8-sig")
    batch = baseline.rename(columns={"USUBJID": "PatientID"})[["PatientID", "ARM", "AGE", "SEX"]]
    batch.to_csv(folder / "batch.csv", index=False)
    return sarc021_dir / "lung_lesion_features.csv.gz", folder / "batch.csv", folder


def test_stats_combat_writes_harmonised_table_parameters_and_summary(cli_inputs, capsys):
    features, batch, folder = cli_inputs
    out = folder / "stats"
    code = main(["stats", "combat", "--features", str(features), "--batch", "ARM", "--batch-table", str(batch),
                 "--covariates", "AGE,SEX", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "ComBat harmonisation across 'ARM'" in printed and "lesions = 362" in printed
    table = LesionTable.read_csv(features)
    written = pd.read_csv(out / "combat_features.csv", dtype={"PatientID": str, "LesionID": str, "ARM": str})
    assert list(written.columns) == ["PatientID", "LesionID", "ARM", "AGE", "SEX", *table.feature_names]
    combat = ComBat.from_dict(json.loads((out / "combat_parameters.json").read_text()))
    meta = written.set_index(["PatientID", "LesionID"])[["ARM", "AGE", "SEX"]]
    np.testing.assert_allclose(written[table.feature_names].to_numpy(),
                               combat.transform(table.features, meta).to_numpy(), rtol=1e-12)
    batches = pd.read_csv(out / "combat_batches.csv")
    assert batches["Lesions"].tolist() == [168, 194] and batches["Patients"].sum() == 135
    assert (out / "combat_pca.png").stat().st_size > 10_000
    provenance = json.loads((out / "combat_provenance.json").read_text())
    assert provenance["parameters"]["covariates"] == ["AGE", "SEX"] and "batchTable" in provenance["inputs"]


def test_stats_combat_bad_input_exit_code_2(cli_inputs, capsys):
    features, batch, folder = cli_inputs
    code = main(["stats", "combat", "--features", str(features), "--batch", "SITE", "--batch-table", str(batch),
                 "--out", str(folder / "bad")])
    assert code == 2 and "['SITE'] not found" in capsys.readouterr().err


def test_cohort_harmonise_then_one_patient_with_the_model_gives_the_same_mirv(cli_inputs, tmp_path, capsys):
    features, batch, _ = cli_inputs
    full = tmp_path / "full"
    assert main(["cohort", "--features", str(features), "--harmonise", "ARM", "--harmonise-covariates", "AGE,SEX",
                 "--batch-table", str(batch), "--out", str(full)]) == 0
    model = FeatureReduction.load(full / "model.json")
    assert model.harmonisation is not None and model.harmonisation.features == model.selected
    lesions = pd.read_csv(features, dtype={"PatientID": str, "LesionID": str})
    patient = "TH-CR-04060321014"
    lesions[lesions["PatientID"] == patient].to_csv(tmp_path / "one.csv", index=False)
    assert main(["cohort", "--features", str(tmp_path / "one.csv"), "--model", str(full / "model.json"),
                 "--batch-table", str(batch), "--out", str(tmp_path / "one")]) == 0
    cohort = pd.read_csv(full / "patients.csv").set_index("PatientID")
    alone = pd.read_csv(tmp_path / "one" / "patients.csv").set_index("PatientID")
    columns = ["MIRVMaxDissimilarity", "MIRVMaxDistance"]
    np.testing.assert_allclose(alone.loc[patient, columns].to_numpy(dtype=float),
                               cohort.loc[patient, columns].to_numpy(dtype=float), rtol=1e-12)
    capsys.readouterr()
    code = main(["cohort", "--features", str(tmp_path / "one.csv"), "--model", str(full / "model.json"),
                 "--out", str(tmp_path / "no-batch")])
    assert code == 2 and "['ARM', 'AGE', 'SEX'] not found" in capsys.readouterr().err


def test_old_model_files_still_load(repo_root):
    model = FeatureReduction.load(repo_root / "Resources" / "Models" / "SARC021-lung-reference.json")
    assert model.harmonisation is None and "harmonisation" not in model.to_dict()


@pytest.mark.parametrize("options, message", [
    (["--batch-table", "BATCH"], "--batch-table is only used with --harmonise"),
    (["--harmonise-covariates", "AGE"], "--harmonise-covariates needs --harmonise"),
    (["--model", "SARC021-lung-reference", "--harmonise", "ARM"], "this model was fitted without it"),
])
def test_cohort_harmonise_option_misuse_exit_code_2(cli_inputs, tmp_path, capsys, options, message):
    features, batch, _ = cli_inputs
    options = [str(batch) if o == "BATCH" else o for o in options]
    assert main(["cohort", "--features", str(features), "--out", str(tmp_path / "out"), *options]) == 2
    assert message in capsys.readouterr().err
