"""Lesion feature table: validation errors name the file/patient/lesion/feature; CSV round-trips exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from MIRVLib.lesion_table import LesionTable, LesionTableError


def _frame(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame({
        "PatientID": ["P1", "P1", "P2"],
        "LesionID": ["L01", "L02", "L01"],
        "Site": ["lung", "liver", "lung"],
        "b_feature": [1.0, 2.0, 3.0],
        "a_feature": [0.1, 0.2, 0.3],
    })
    for column, values in overrides.items():
        frame[column] = values
    return frame


def test_column_order_and_site_are_kept():
    table = LesionTable.from_frame(_frame())
    assert list(table.frame.columns) == ["PatientID", "LesionID", "Site", "b_feature", "a_feature"]
    assert table.feature_names == ["b_feature", "a_feature"]
    assert table.patient_ids == ["P1", "P2"]
    assert table.features.loc[("P1", "L02"), "a_feature"] == 0.2


def test_missing_id_column_is_named():
    with pytest.raises(LesionTableError, match=r"lesions\.csv: missing id column\(s\) \['LesionID'\]"):
        LesionTable.from_frame(_frame().drop(columns="LesionID"), source="lesions.csv")


def test_duplicate_lesion_is_named():
    with pytest.raises(LesionTableError, match="duplicate .*P1/L01"):
        LesionTable.from_frame(_frame(LesionID=["L01", "L01", "L01"]))


def test_non_numeric_value_names_patient_lesion_and_feature():
    with pytest.raises(LesionTableError, match=r"patient P1 lesion L02: a_feature = 'abc'"):
        LesionTable.from_frame(_frame(a_feature=[0.1, "abc", 0.3]))


def test_nonfinite_values_fail_by_default_with_a_report():
    with pytest.raises(LesionTableError, match=r"patient P2 lesion L01: b_feature = nan.*drop-feature or drop-lesion"):
        LesionTable.from_frame(_frame(b_feature=[1.0, 2.0, np.nan]))


def test_nonfinite_policies_drop_what_they_say():
    frame = _frame(b_feature=[1.0, np.inf, 3.0])
    by_feature = LesionTable.from_frame(frame, nonfinite="drop-feature")
    assert by_feature.feature_names == ["a_feature"] and by_feature.num_lesions == 3
    assert by_feature.dropped_features == ("b_feature",)
    by_lesion = LesionTable.from_frame(frame, nonfinite="drop-lesion")
    assert by_lesion.num_lesions == 2 and by_lesion.dropped_lesions == (("P1", "L02"),)
    assert [str(v) for v in by_lesion.nonfinite] == ["patient P1 lesion L02: b_feature = inf"]


def test_pyradiomics_diagnostics_columns_are_not_features():
    table = LesionTable.from_frame(_frame(diagnostics_Versions_PyRadiomics=["3.1", "3.1", "3.1"]))
    assert table.feature_names == ["b_feature", "a_feature"]


def test_csv_round_trip_keeps_every_bit_and_ids_as_text(tmp_path):
    rng = np.random.default_rng(0)
    frame = _frame(PatientID=["007", "007", "010"], b_feature=rng.normal(size=3) * 1e-7, a_feature=[1 / 3, 2 / 3, np.pi])
    table = LesionTable.from_frame(frame)
    path = table.to_csv(tmp_path / "lesions.csv")
    back = LesionTable.read_csv(path)
    assert back.patient_ids == ["007", "010"]
    pd.testing.assert_frame_equal(back.frame, table.frame)
    assert back.content_hash() == table.content_hash()


def test_real_sarc021_table_reads_with_paper_feature_count(sarc021_dir):
    table = LesionTable.read_csv(sarc021_dir / "lung_lesion_features.csv.gz")
    assert (table.num_lesions, len(table.patient_ids), len(table.feature_names)) == (362, 135, 1218)
    assert table.feature_names[0] == "original_shape_Elongation"


def test_semicolon_csv_from_a_comma_decimal_locale_is_explained(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text("PatientID;LesionID;f\nP1;L1;1,5\n")
    with pytest.raises(LesionTableError, match="semicolon-separated.*'.' decimals"):
        LesionTable.read_csv(path)


def test_extraction_table_failed_lesions_are_left_out_and_reported():
    """A `mirv extract` table: SegmentID/Status are metadata; a failed lesion has no features and is set aside."""
    frame = pd.DataFrame({
        "PatientID": ["p", "p", "p"], "LesionID": ["a", "b", "tiny"], "SegmentID": ["S1", "S2", "S3"],
        "Site": ["lung", "liver", "bone"], "Status": ["ok", "ok", "error: mask has 1 voxel"],
        "f1": [1.0, 2.0, None], "f2": [3.0, 5.0, None], "ITHscore": [0.4, 0.6, None],
    })
    table = LesionTable.from_frame(frame, source="lesions.csv")
    assert table.feature_names == ["f1", "f2"]
    assert table.frame["LesionID"].tolist() == ["a", "b"]
    assert table.frame["SegmentID"].tolist() == ["S1", "S2"]
    assert table.failed_lesions == (("p", "tiny", "error: mask has 1 voxel"),)
    assert table.nonfinite == ()
