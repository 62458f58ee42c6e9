"""The per-patient result store: exact round trip, keyed reuse, crash leftovers ignored."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from MIRVLib.batch.manifest import ManifestRow
from MIRVLib.batch.store import PatientResult, ResultStore


@pytest.fixture()
def row(tmp_path: Path) -> ManifestRow:
    (tmp_path / "ct.nrrd").write_bytes(b"image bytes")
    (tmp_path / "seg.nrrd").write_bytes(b"mask bytes")
    return ManifestRow("P/1", tmp_path / "ct.nrrd", tmp_path / "seg.nrrd")


def _result(patient_id: str) -> PatientResult:
    rng = np.random.default_rng(7)
    lesions = pd.DataFrame({
        "PatientID": [patient_id] * 3, "LesionID": ["a", "b", "c"], "SegmentID": ["S1", "S2", "S3"],
        "Site": ["lung", None, "liver"], "Status": ["ok", "ok", "error: empty mask"],
        "original_shape_VoxelVolume": [12.0, 345.5, np.nan],
        "original_firstorder_Mean": np.append(rng.normal(size=2) / 3.0, np.nan),
        "original_glcm_Imc2": [0.1 + 0.2, 1e-300, np.nan],
    })
    failures = [{"PatientID": patient_id, "LesionID": "c", "Stage": "extraction", "Reason": "empty mask"}]
    return PatientResult(patient_id, lesions, None, failures, {"imageReadsPerWorker": [1]})


def test_round_trip_is_bit_exact(tmp_path: Path, row: ManifestRow) -> None:
    store = ResultStore(tmp_path / "out", "settings-1")
    original = _result(row.patient_id)
    store.save(row, original)
    loaded = store.load(row)
    assert loaded is not None and loaded.failures == original.failures and loaded.failed
    pd.testing.assert_frame_equal(loaded.lesions, original.lesions, check_exact=True)
    assert loaded.lesions["original_glcm_Imc2"][0] == 0.1 + 0.2  # 0.30000000000000004, not 0.3
    assert loaded.lesions.to_csv() == original.lesions.to_csv()


def test_reuse_needs_same_settings_and_unchanged_inputs(tmp_path: Path, row: ManifestRow) -> None:
    ResultStore(tmp_path / "out", "settings-1").save(row, _result(row.patient_id))
    assert ResultStore(tmp_path / "out", "settings-1").load(row) is not None
    assert ResultStore(tmp_path / "out", "settings-2").load(row) is None
    other_patient = ManifestRow("P_1", row.image, row.lesions)
    assert ResultStore(tmp_path / "out", "settings-1").load(other_patient) is None
    os.utime(row.lesions, ns=(0, 10**9))  # input file changed since the patient was stored
    assert ResultStore(tmp_path / "out", "settings-1").load(row) is None


def test_ids_that_look_alike_get_distinct_files(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, "s")
    paths = {store.path_for(pid) for pid in ("P/1", "P_1", "P 1", "../P1", "")}
    assert len(paths) == 5 and all(p.parent == tmp_path / "patients" for p in paths)


def test_leftovers_of_a_killed_write_are_removed_and_never_loaded(tmp_path: Path, row: ManifestRow) -> None:
    store = ResultStore(tmp_path / "out", "s")
    target = store.path_for(row.patient_id)
    partial = target.parent / f".{target.name}.abc123.tmp"
    partial.write_text('{"format": 1, "patientId": "P/1", "lesions": {"col')
    assert store.load(row) is None
    ResultStore(tmp_path / "out", "s")
    assert not partial.exists()
    target.write_text('{"format": 1, "patientId": "P/1", "lesi')  # a truncated file is not a result
    assert store.load(row) is None


def test_transient_failures_are_not_stored(tmp_path: Path, row: ManifestRow) -> None:
    result = _result(row.patient_id)
    result.transient = True
    with pytest.raises(ValueError, match="transient"):
        ResultStore(tmp_path, "s").save(row, result)


def test_patient_frame_equals_pandas_own_construction() -> None:
    """The client builds each patient's frame with one float block; it must equal pandas' own inference."""
    from MIRVLib.batch.runner import _lesion_frame

    ok = {"PatientID": "P", "LesionID": "a", "SegmentID": "S1", "Site": "lung", "Status": "ok",
          "original_shape_VoxelVolume": 12.5, "original_firstorder_Mean": -3.25, "ITHscore": float("nan")}
    failed = {"PatientID": "P", "LesionID": "#2", "Status": "error: empty segment (no voxels)"}
    late = {**ok, "LesionID": "c", "original_glcm_Idm": 0.1 + 0.2}
    rows = [ok, failed, late]
    columns = list(dict.fromkeys(column for row in rows for column in row))
    expected = pd.DataFrame(rows, columns=columns)
    pd.testing.assert_frame_equal(_lesion_frame(rows), expected)
    assert list(_lesion_frame([failed]).columns) == ["PatientID", "LesionID", "SegmentID", "Site", "Status"]
    odd = [{**ok, "original_firstorder_Mean": "n/a"}]  # not a float: pandas decides the column type
    pd.testing.assert_frame_equal(_lesion_frame(odd), pd.DataFrame(odd, columns=columns[:8]))
