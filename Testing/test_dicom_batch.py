"""`mirv batch` on a DICOM cohort (CT series folders, lesions as DICOM SEG or RTSTRUCT) and `--dicom-out`.

The cohort is `batch_cohort`'s, written as DICOM by `MIRVLib.dicom.sample_study` (`dicom_cohort`): the DICOM
run must give the NRRD run's features and patients.csv exactly, and the SR of every patient must carry the
values of that run's lesions.csv, selected_features.csv and patients.csv, read back with highdicom.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from batch_cohort import write_small_preset
from dicom_cohort import make_dicom_cohort

hd = pytest.importorskip("highdicom")
pydicom = pytest.importorskip("pydicom")

from MIRVLib.cli import main  # noqa: E402

REDUCTION = ["--feature-correlation", "0.9", "--volume-correlation", "0.2"]
FEATURES_START = "original_"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """`mirv batch` on the NRRD and on the DICOM manifest of the same cohort, the latter with --dicom-out."""
    root = tmp_path_factory.mktemp("cohort")
    nrrd, dicom = make_dicom_cohort(root)
    options = ["--preset", str(write_small_preset(root)), *REDUCTION]
    assert main(["batch", "--manifest", str(nrrd), "--out", str(root / "nrrd"), *options]) == 0
    assert main(["batch", "--manifest", str(dicom), "--out", str(root / "dicom"), *options,
                 "--dicom-out", str(root / "dicom-results"), "--dicom-seed", "batch"]) == 0
    return root


def read_lesions(folder):
    return pd.read_csv(folder / "lesions.csv", dtype={"PatientID": str, "LesionID": str}, float_precision="round_trip")


def test_dicom_manifest_gives_the_nrrd_features_and_patients(runs):
    nrrd, dicom = read_lesions(runs / "nrrd"), read_lesions(runs / "dicom")
    features = [c for c in nrrd.columns if c.startswith(FEATURES_START)]
    assert len(features) > 50 and len(nrrd) == 3 + 4 + 2 + 3  # batch_cohort: 2 + index % 3 lesions
    assert dicom[["PatientID", "LesionID", "Status"]].equals(nrrd[["PatientID", "LesionID", "Status"]])
    np.testing.assert_array_equal(dicom[features].to_numpy(float), nrrd[features].to_numpy(float))
    assert (runs / "dicom" / "patients.csv").read_bytes() == (runs / "nrrd" / "patients.csv").read_bytes()


def test_dicom_out_sr_carries_lesions_csv_and_patients_csv(runs):
    lesions = read_lesions(runs / "dicom").set_index(["PatientID", "LesionID"])
    patients = pd.read_csv(runs / "dicom" / "patients.csv", dtype={"PatientID": str}, float_precision="round_trip")
    selected = list(pd.read_csv(runs / "dicom" / "selected_features.csv")["Feature"])
    assert sorted(p.name for p in (runs / "dicom-results").iterdir()) == \
        sorted(f"P0{n}_{kind}.dcm" for n in range(1, 5) for kind in ("seg", "sr"))
    for patient in patients.itertuples(index=False):
        sr = hd.sr.srread(runs / "dicom-results" / f"{patient.PatientID}_sr.dcm")
        assert sr.PatientID == patient.PatientID
        groups = {g.tracking_identifier: g for g in sr.content.get_volumetric_roi_measurement_groups()}
        assert sorted(groups) == sorted(lesions.loc[patient.PatientID].index)
        for name, group in groups.items():
            found = {m.name.meaning: m.value for m in group.get_measurements()}
            row = lesions.loc[(patient.PatientID, name)]
            assert found == {"Volume": row["original_shape_VoxelVolume"], **{f: row[f] for f in selected}}
        (summary,) = sr.content.get_image_measurement_groups()
        found = {m.name.meaning: m.value for m in summary.get_measurements()}
        assert found["MIRVMaxDissimilarity"] == patient.MIRVMaxDissimilarity
        assert found["NumLesions"] == patient.NumLesions == len(groups)


def test_dicom_out_seg_references_the_patients_ct_series(runs):
    for number in range(1, 5):
        seg = pydicom.dcmread(runs / "dicom-results" / f"P0{number}_seg.dcm")
        ct = next((runs / f"P0{number}" / "dicom" / "CT").iterdir())
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == pydicom.dcmread(ct).SeriesInstanceUID
        assert seg.NumberOfFrames > 0 and len(seg.SegmentSequence) == 2 + number % 3


def test_provenance_records_the_dicom_files_and_seed(runs):
    record = json.loads((runs / "dicom" / "provenance.json").read_text(encoding="utf-8"))["dicom"]
    assert record["seed"] == "batch" and record["folder"] == str(runs / "dicom-results")
    assert [f["PatientID"] for f in record["files"]] == ["P01", "P02", "P03", "P04"]


def test_dicom_out_with_nrrd_images_stops_before_any_work(runs, tmp_path, capsys):
    code = main(["batch", "--manifest", str(runs / "manifest.csv"), "--out", str(tmp_path / "out"),
                 "--dicom-out", str(tmp_path / "dicom")])
    assert code == 2
    err = capsys.readouterr().err
    assert "manifest" in err and "line 2, patient P01: Image" in err and "must be a DICOM series folder" in err
    assert not (tmp_path / "out" / "lesions.csv").exists()


def test_a_seg_of_another_series_fails_that_patient_naming_the_file(runs, tmp_path, capsys):
    """P02's CT with P01's SEG (same grid, other series): P02 fails, named with the file; P01 runs."""
    root = tmp_path / "cohort"
    shutil.copytree(runs / "P01" / "dicom", root / "P01")
    shutil.copytree(runs / "P02" / "dicom" / "CT", root / "P02" / "CT")
    manifest = root / "manifest.csv"
    manifest.write_text("PatientID,Image,Lesions\nP01,P01/CT,P01/SEG\nP02,P02/CT,P01/SEG/lesions.dcm\n", encoding="utf-8")
    code = main(["batch", "--manifest", str(manifest), "--out", str(tmp_path / "out"),
                 "--preset", str(runs / "small-preset.yaml"), "--model", str(runs / "dicom" / "model.json")])
    assert code == 3
    failures = pd.read_csv(tmp_path / "out" / "failures.csv", dtype=str, keep_default_na=False)
    assert failures["PatientID"].tolist() == ["P02"]
    reason = failures["Reason"].iloc[0]
    assert str(root / "P01" / "SEG" / "lesions.dcm") in reason and "does not belong to this image" in reason
    assert pd.read_csv(tmp_path / "out" / "patients.csv")["PatientID"].tolist() == ["P01"]
