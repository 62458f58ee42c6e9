"""Model applicability: what a fitted model records, and the warnings (or, with --strict, errors) when the
input's extraction preset or lesion sites differ from it. SARC021 lung lesions, sites set per test."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from MIRVLib.applicability import ApplicabilityError, check, fit_record
from MIRVLib.cli import main
from MIRVLib.cohort import score_cohort
from MIRVLib.lesion_table import LesionTable
from MIRVLib.provenance import sha256_file
from MIRVLib.reduction import FeatureReduction
from MIRVLib.resources import model_path, preset_path

PATIENTS = 3
OTHER_PRESET = {"name": "binWidth5", "sha256": "0" * 64}


@pytest.fixture(scope="module")
def lesions(sarc021_dir) -> pd.DataFrame:
    """Lesions of the first three multi-lesion SARC021 patients, all lung; the third patient's last one liver."""
    frame = pd.read_csv(sarc021_dir / "lung_lesion_features.csv.gz", dtype={"PatientID": str, "LesionID": str})
    multi = frame["PatientID"].value_counts()
    keep = [p for p in dict.fromkeys(frame["PatientID"]) if multi[p] >= 2][:PATIENTS]
    frame = frame[frame["PatientID"].isin(keep)].reset_index(drop=True)
    frame.insert(2, "Site", "lung")
    frame.loc[frame.index[frame["PatientID"] == keep[2]][-1], "Site"] = "liver"
    return frame


def mirv_ct() -> dict[str, str]:
    return {"name": "MIRV-CT", "sha256": sha256_file(preset_path("MIRV-CT"))}


def test_shipped_models_record_their_lung_only_fit():
    for name in ("SARC021-lung-paper", "SARC021-lung-reference"):
        cohort = FeatureReduction.load(model_path(name)).cohort
        assert cohort["sites"] == {"lung": 362} and cohort["lesions"] == 362 and cohort["patients"] == 135
        assert cohort["extractionPreset"] == mirv_ct()
        assert cohort["inputFeatures"]["count"] == 1218


def test_a_fitted_model_records_sites_preset_and_features(lesions, tmp_path):
    table = LesionTable.from_frame(lesions)
    reduction = FeatureReduction()
    score_cohort(table, reduction, extraction_preset=mirv_ct())
    reduction.save(tmp_path / "model.json")
    cohort = FeatureReduction.load(tmp_path / "model.json").cohort
    assert cohort["sites"] == {"liver": 1, "lung": len(lesions) - 1}
    assert cohort["extractionPreset"] == mirv_ct()
    assert cohort["inputFeatures"]["count"] == 1218 and cohort["patients"] == PATIENTS
    assert fit_record(table, None)["extractionPreset"] is None


def test_unseen_sites_warn_for_their_patient_only_and_strict_stops(lesions):
    model = FeatureReduction.load(model_path("SARC021-lung-paper"))
    table = LesionTable.from_frame(lesions)
    result = score_cohort(table, model, extraction_preset=mirv_ct())
    warnings = result.patients.set_index("PatientID")["Warnings"]
    liver_patient = lesions["PatientID"].iloc[-1]
    assert warnings[liver_patient] == "lesion site(s) liver not in the model's fitting cohort (lung 362 lesions)"
    assert (warnings.drop(liver_patient) == "").all()
    assert f"1 patient(s) with lesion sites the model was not fitted on: ['{liver_patient}']" in result.warnings
    with pytest.raises(ApplicabilityError, match="liver"):
        score_cohort(table, model, extraction_preset=mirv_ct(), strict=True)
    lung_only = LesionTable.from_frame(lesions[lesions["Site"] == "lung"])
    assert check(model, lung_only, mirv_ct()).ok
    score_cohort(lung_only, model, extraction_preset=mirv_ct(), strict=True)  # nothing to complain about


def test_another_preset_warns_every_patient_and_strict_stops(lesions):
    model = FeatureReduction.load(model_path("SARC021-lung-paper"))
    table = LesionTable.from_frame(lesions[lesions["Site"] == "lung"])
    result = score_cohort(table, model, extraction_preset=OTHER_PRESET)
    message = ("features extracted with preset 'binWidth5' (sha256 000000000000…), but the model was fitted on "
               "preset 'MIRV-CT' (sha256 c01f40cf5b42…): the values are not comparable")
    assert result.warnings == [message]
    assert (result.patients["Warnings"] == message).all()
    with pytest.raises(ApplicabilityError, match="binWidth5"):
        score_cohort(table, model, extraction_preset=OTHER_PRESET, strict=True)


def test_cli_reads_the_provenance_sidecar_warns_and_strict_exits(lesions, tmp_path, capsys, caplog):
    features = tmp_path / "lesions.csv"
    lesions.to_csv(features, index=False)
    sidecar = {"extraction": {"preset": {**OTHER_PRESET, "path": "/elsewhere/binWidth5.yaml"}}}
    (tmp_path / "lesions.csv.provenance.json").write_text(json.dumps(sidecar))
    out = tmp_path / "out"
    assert main(["cohort", "--features", str(features), "--model", "SARC021-lung-paper", "--out", str(out)]) == 0
    patients = pd.read_csv(out / "patients.csv", dtype={"PatientID": str}).set_index("PatientID")
    assert patients["Warnings"].str.contains("preset 'binWidth5'").all()
    assert patients.loc[lesions["PatientID"].iloc[-1], "Warnings"].endswith("liver not in the model's fitting "
                                                                           "cohort (lung 362 lesions)")
    console = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]  # `mirv` logs WARNING to stderr
    assert any("preset 'binWidth5'" in m for m in console)
    assert any("lesion sites the model was not fitted on" in m for m in console)
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["parameters"]["inputExtractionPreset"]["name"] == "binWidth5"
    strict = tmp_path / "strict"
    code = main(["cohort", "--features", str(features), "--model", "SARC021-lung-paper", "--out", str(strict),
                 "--strict"])
    assert code == 2 and not (strict / "patients.csv").exists()  # 2: invalid input
    assert "does not fit the input (--strict)" in capsys.readouterr().err
