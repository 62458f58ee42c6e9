"""`mirv cohort` on the real SARC021 lung subset reproduces the published numbers (docs/methods.md, Statistics)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from MIRVLib.cli import main
from MIRVLib.cohort import score_cohort
from MIRVLib.lesion_table import LesionTable
from MIRVLib.reduction import FeatureReduction
from MIRVLib.resources import model_path

PATIENT_COLUMNS = [
    "PatientID", "NumLesions", "MIRVMaxDissimilarity", "MIRVMaxDistance", "MIRVMeanDissimilarity",
    "MIRVMeanDistance", "MIRVMedianDissimilarity", "MIRVMedianDistance", "MIRVStdDissimilarity", "MIRVStdDistance",
    "MostDivergentPairDissimilarity", "MostDivergentPairDistance", "BaselineVolumeRange", "BaselineVolumeStdDev",
    "BaselineVolumeTotal", "VolumeChangeRange", "CompleteTumorResponse",
]
# docs/methods.md, Statistics: Spearman rho of MIRV(max) Dissimilarity with Δ Volume and with TSRC.
SELF_CHECK = {"reference": (0.513, -0.324, 16), "paper": (0.329, -0.352, 5)}


@pytest.fixture(scope="module", params=["reference", "paper"])
def cohort_run(request, sarc021_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"cohort-{request.param}")
    code = main([
        "cohort", "--features", str(sarc021_dir / "lung_lesion_features.csv.gz"),
        "--volumes", str(sarc021_dir / "lung_lesion_volumes.csv"), "--preset", request.param, "--out", str(out),
    ])
    assert code == 0
    return request.param, out


def test_published_self_check_correlations(cohort_run):
    preset, out = cohort_run
    patients = pd.read_csv(out / "patients.csv", dtype={"PatientID": str})
    assert list(patients.columns[: len(PATIENT_COLUMNS)]) == PATIENT_COLUMNS
    with_mirv = patients.dropna(subset=["MIRVMaxDissimilarity"])
    assert len(patients) == 135 and len(with_mirv) == 85
    rho_volume = spearmanr(with_mirv["MIRVMaxDissimilarity"], with_mirv["VolumeChangeRange"])[0]
    rho_tsrc = spearmanr(with_mirv["MIRVMaxDissimilarity"], with_mirv["CompleteTumorResponse"])[0]
    expected_volume, expected_tsrc, n_features = SELF_CHECK[preset]
    assert round(rho_volume, 3) == expected_volume
    assert round(rho_tsrc, 3) == expected_tsrc
    assert len(pd.read_csv(out / "selected_features.csv")) == n_features


def test_outputs_are_complete_and_consistent(cohort_run):
    preset, out = cohort_run
    patients = pd.read_csv(out / "patients.csv", dtype={"PatientID": str}).set_index("PatientID")
    single = patients[patients["NumLesions"] == 1]
    assert len(single) == 50 and single["MIRVMaxDistance"].isna().all()
    assert (single["MIRVUndefinedReason"] == "only one lesion").all()
    patient = patients[patients["NumLesions"] >= 3].index[0]
    distance = pd.read_csv(out / "matrices" / f"{patient}_distance.csv", index_col="LesionID")
    dissimilarity = pd.read_csv(out / "matrices" / f"{patient}_dissimilarity.csv", index_col="LesionID")
    assert list(distance.index) == list(distance.columns)
    assert distance.to_numpy().max() == pytest.approx(patients.loc[patient, "MIRVMaxDistance"], rel=1e-15)
    assert dissimilarity.to_numpy().max() == pytest.approx(patients.loc[patient, "MIRVMaxDissimilarity"], rel=1e-15)
    first, second = patients.loc[patient, "MostDivergentPairDistance"].split("|")
    assert distance.loc[first, second] == distance.to_numpy().max()
    provenance = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert provenance["preset"] == preset and provenance["inputs"]["features"]["sha256"]
    assert provenance["versions"]["pyradiomics-bhklab"] == "3.1.4"
    assert FeatureReduction.load(out / "model.json").selected == list(pd.read_csv(out / "selected_features.csv")["Feature"])


def test_single_patient_with_shipped_model_equals_the_cohort_run(cohort_run, sarc021_dir, tmp_path):
    preset, out = cohort_run
    cohort = pd.read_csv(out / "patients.csv", dtype={"PatientID": str}).set_index("PatientID")
    patient = cohort[cohort["NumLesions"] >= 3].index[-1]
    table = LesionTable.read_csv(sarc021_dir / "lung_lesion_features.csv.gz")
    one = table.frame[table.frame["PatientID"] == patient]
    path = tmp_path / "one.csv"
    one.to_csv(path, index=False)
    assert main(["cohort", "--features", str(path), "--model", f"SARC021-lung-{preset}", "--out", str(tmp_path / "o")]) == 0
    single = pd.read_csv(tmp_path / "o" / "patients.csv", dtype={"PatientID": str}).set_index("PatientID")
    for column in ("MIRVMaxDissimilarity", "MIRVMaxDistance", "MIRVMeanDistance", "BaselineVolumeTotal",
                   "MIRVMaxDissimilarityPercentile", "MIRVMaxDistancePercentile"):
        assert single.loc[patient, column] == pytest.approx(cohort.loc[patient, column], rel=1e-12)
    assert "VolumeChangeRange" not in single.columns  # no volume table given
    assert json.loads((tmp_path / "o" / "provenance.json").read_text(encoding="utf-8"))["parameters"]["fitted"] is False


def test_progress_callback_reaches_the_end(sarc021_dir):
    table = LesionTable.read_csv(sarc021_dir / "lung_lesion_features.csv.gz").subset(["TH-CR-04060329006"])
    seen: list[tuple[float, str]] = []
    result = score_cohort(table, FeatureReduction.load(model_path("SARC021-lung-paper")),
                          progress=lambda f, m: seen.append((f, m)))
    assert seen[-1][0] == 1.0 and result.patients["NumLesions"].tolist() == [2]
    assert np.isfinite(result.patients["MIRVMaxDissimilarity"]).all()


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("PatientID,LesionID,f\nP1,L1,1\nP1,L1,2\n")
    assert main(["cohort", "--features", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "duplicate (PatientID, LesionID): P1/L1" in capsys.readouterr().err


def test_nonfinite_lesion_is_dropped_reported_and_the_rest_scored(tmp_path, caplog):
    rows = ["PatientID,LesionID,a,original_shape_VoxelVolume,b"]
    values = [(1, 10, 5), (2, 20, 3), (3, 30, "nan"), (4, 15, 1), (0, 12, 2), (6, 40, 7)]
    rows += [f"P{i // 2},L{i % 2},{a},{v},{b}" for i, (a, v, b) in enumerate(values)]
    path = tmp_path / "lesions.csv"
    path.write_text("\n".join(rows) + "\n")
    assert main(["cohort", "--features", str(path), "--variance-quantile", "0", "--volume-correlation", "1",
                 "--out", str(tmp_path / "o")]) == 0
    assert "patient P1 lesion L0: b = nan -> drop-lesion" in caplog.text
    provenance = json.loads((tmp_path / "o" / "provenance.json").read_text(encoding="utf-8"))
    assert provenance["droppedLesions"] == ["P1/L0"]
    patients = pd.read_csv(tmp_path / "o" / "patients.csv").set_index("PatientID")
    assert patients.loc["P1", "NumLesions"] == 1 and patients.loc["P0", "NumLesions"] == 2


def test_patient_ids_become_safe_distinct_file_names(tmp_path):
    from MIRVLib.cohort import write_cohort

    frame = pd.DataFrame({
        "PatientID": ["A/1", "A/1", "A:1", "A:1", "B"], "LesionID": ["x", "y", "x", "y", "x"],
        "f": [1.0, -2.0, 3.0, 4.0, -1.0], "g": [0.5, 2.0, -1.0, 1.0, 3.0],
        "original_shape_VoxelVolume": [10.0, 20.0, 30.0, 40.0, 50.0],
    })
    reduction = FeatureReduction.from_dict({
        "format": "mirv-model", "formatVersion": 1, "preset": "paper",
        "features": [{"name": "f", "mean": 0.0, "std": 1.0}, {"name": "g", "mean": 0.0, "std": 2.0}],
    })
    result = score_cohort(LesionTable.from_frame(frame), reduction)
    write_cohort(result, tmp_path, {})
    names = sorted(p.name for p in (tmp_path / "matrices").glob("*_distance.csv"))
    # unsafe IDs get a hash of the ID (sha256 "A/1" a5b3d27a..., "A:1" 370b9816...); the names are in provenance
    assert names == ["A_1-370b9816_distance.csv", "A_1-a5b3d27a_distance.csv", "B_distance.csv"]
    provenance = json.loads((tmp_path / "provenance.json").read_text(encoding="utf-8"))
    assert provenance["fileNames"] == {"A/1": "A_1-a5b3d27a", "A:1": "A_1-370b9816"}
    # Vectors (1, .25) and (-2, 1): distance sqrt(9 + .5625).
    distance = pd.read_csv(tmp_path / "matrices" / "A_1-a5b3d27a_distance.csv", index_col="LesionID")
    assert distance.loc["x", "y"] == pytest.approx(np.sqrt(9.5625), rel=1e-15)


def test_restrict_to_reads_a_selected_features_csv_and_refuses_a_model(cohort_run, sarc021_dir, tmp_path, capsys):
    from MIRVLib.reduction import read_feature_list

    preset, out = cohort_run
    listed = read_feature_list(out / "selected_features.csv")
    assert listed == list(pd.read_csv(out / "selected_features.csv")["Feature"])
    code = main(["cohort", "--features", str(sarc021_dir / "lung_lesion_features.csv.gz"), "--model",
                 f"SARC021-lung-{preset}", "--restrict-to", str(out / "selected_features.csv"), "--out", str(tmp_path)])
    assert code == 2 and "cannot be combined with --model" in capsys.readouterr().err
