"""Empty and NUL-bearing tables are refused naming the file and line (issue 14 §5, §6)."""

from __future__ import annotations

import pandas as pd
import pytest

from MIRVLib.batch.manifest import ManifestError, read_manifest
from MIRVLib.cli import main
from MIRVLib.lesion_table import LesionTable, LesionTableError
from MIRVLib.response import VolumeTableError, read_volumes


def test_zero_byte_features_csv_names_the_file(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(LesionTableError, match=f"{path}: not a readable CSV \\(No columns to parse from file\\)"):
        LesionTable.read_csv(path)
    assert main(["cohort", "--features", str(path), "--out", str(tmp_path / "o")]) == 2
    assert f"mirv cohort: error: {path}: not a readable CSV" in capsys.readouterr().err
    assert main(["stats", "correlate", "--table", str(path), "--columns", "a,b", "--out", str(tmp_path / "s")]) == 2
    assert f"cannot read table {path}: No columns to parse from file" in capsys.readouterr().err


def test_zero_byte_volumes_csv_names_the_file(tmp_path):
    path = tmp_path / "volumes.csv"
    path.write_bytes(b"")
    with pytest.raises(VolumeTableError, match=f"{path}: not a readable CSV"):
        read_volumes(path)


def test_nul_in_an_id_is_an_error_not_cut(tmp_path):
    features = tmp_path / "f.csv"
    features.write_bytes(b"PatientID,LesionID,a\nP1,L1,1\nP1,L1\x00x,2\n")
    with pytest.raises(LesionTableError, match=rf"{features}: NUL character on line\(s\) \[3\]"):
        LesionTable.read_csv(features)
    (tmp_path / "ct.nrrd").write_text("x")
    manifest = tmp_path / "m.csv"
    manifest.write_bytes(b"PatientID,Image,Lesions\nP\x001,ct.nrrd,ct.nrrd\n")
    with pytest.raises(ManifestError, match="line 2: NUL character"):
        read_manifest(manifest)


def test_lesions_missing_from_volumes_leave_that_patients_volumes_unmeasured(tmp_path, caplog):
    rows = ["PatientID,LesionID,a,original_shape_VoxelVolume,b"]
    values = [(1, 10, 5), (2, 20, 3), (3, 30, 9), (4, 15, 1), (0, 12, 2), (6, 40, 7)]
    rows += [f"P{i // 2},L{i % 2},{a},{v},{b}" for i, (a, v, b) in enumerate(values)]
    features = tmp_path / "lesions.csv"
    features.write_text("\n".join(rows) + "\n")
    volumes = tmp_path / "volumes.csv"  # P1 lacks L1; P0 and P2 are complete
    volumes.write_text("PatientID,LesionID,VolumeBaseline,VolumeFollowUp\n"
                       "P0,L0,100,50\nP0,L1,200,150\nP1,L0,300,100\nP2,L0,10,10\nP2,L1,20,5\n")
    out = tmp_path / "o"
    assert main(["cohort", "--features", str(features), "--volumes", str(volumes), "--variance-quantile", "0",
                 "--volume-correlation", "1", "--out", str(out)]) == 0
    assert ("patient P1: lesion(s) L1 missing from the volume table; the patient's volume metrics are left "
            "unmeasured") in caplog.text
    patients = pd.read_csv(out / "patients.csv").set_index("PatientID")
    assert patients.loc["P0", "BaselineVolumeTotal"] == 300 and patients.loc["P2", "BaselineVolumeTotal"] == 30
    unmeasured = patients.loc[["P1"], ["BaselineVolumeTotal", "VolumeChangeRange", "FollowUpVolumeTotal"]]
    assert unmeasured.isna().all(axis=None)
