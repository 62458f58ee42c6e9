"""Join, type detection, derived columns and missing-value report of the stats input table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from MIRVLib.stats.join import (
    BINARY,
    CATEGORICAL,
    CONTINUOUS,
    add_derived,
    complete_cases,
    derive_column,
    detect_types,
    join_tables,
    load_tables,
    missing_report,
    numeric_columns,
    read_table,
)


def test_read_table_strips_the_utf8_bom_of_the_clinical_exports(sarc021_dir):
    raw_header = (sarc021_dir / "baseline-all.csv").read_bytes()[:3]
    assert raw_header == b"\xef\xbb\xbf"  # the files really carry a BOM
    frame = read_table(sarc021_dir / "baseline-all.csv")
    assert frame.columns[0] == "USUBJID"
    assert len(frame) == 621


def test_join_with_per_table_id_names_reports_unmatched_and_drops_duplicate_columns(sarc021_dir):
    paths = [sarc021_dir / f for f in ("baseline-all.csv", "survival-all.csv", "recist-all.csv")]
    table = load_tables(paths, "PatientID,USUBJID")
    baseline, recist = read_table(paths[0]), read_table(paths[2])
    expected_ids = sorted(set(baseline["USUBJID"]) & set(recist["USUBJID"]))
    assert table.frame["PatientID"].tolist() == expected_ids
    assert len(expected_ids) == 594
    # survival-all repeats 'Overall survival (days)' with identical values: kept once, no suffix
    assert "Overall survival (days)" in table.frame and "Overall survival (days).survival-all" not in table.frame
    assert set(table.unmatched["table"]) == {"baseline-all", "survival-all"}
    assert len(table.unmatched) == 2 * (621 - 594)


def test_join_suffixes_a_column_whose_values_disagree():
    a = pd.DataFrame({"PatientID": ["p1", "p2"], "X": [1, 2]})
    b = pd.DataFrame({"PatientID": ["p2", "p1", "p3"], "X": [5, 1, 9]})
    joined = join_tables([a, b], names=["a", "b"])
    assert joined.frame.to_dict("list") == {"PatientID": ["p1", "p2"], "X": [1, 2], "X.b": [1, 5]}
    assert joined.unmatched == {"b": ["p3"]}
    assert joined.renamed == {"X.b": "X"}
    same = join_tables([a, b.assign(X=[2.0, 1.0, 7.0])], names=["a", "b"])  # 1 == 1.0: kept once
    assert list(same.frame.columns) == ["PatientID", "X"]


def test_join_errors_name_table_and_problem():
    a = pd.DataFrame({"PatientID": ["p1", "p1"], "X": [1, 2]})
    with pytest.raises(ValueError, match=r"table 'a' has duplicated IDs.*p1"):
        join_tables([a], names=["a"])
    with pytest.raises(ValueError, match=r"table 'b' has none of the ID columns \['PatientID'\]"):
        join_tables([a.drop_duplicates("PatientID"), pd.DataFrame({"ID": ["p1"]})], names=["a", "b"])


def test_ids_are_compared_as_trimmed_text():
    a = pd.DataFrame({"PatientID": [101, 102], "X": [1.0, 2.0]})
    b = pd.DataFrame({"PatientID": [" 101", "102 "], "Y": [3.0, 4.0]})
    assert join_tables([a, b]).frame["Y"].tolist() == [3.0, 4.0]


def test_derived_columns_by_hand():
    frame = pd.DataFrame({"AGE": [40, 65, 80, np.nan], "V": [1.0, 2.0, 3.0, 10.0], "H": ["LMS", "UPS", "LMS", None]})
    name, values, record = derive_column(frame, "AGE>=65")
    assert name == "AGE>=65" and values.tolist()[:3] == [0.0, 1.0, 1.0] and np.isnan(values.iloc[3])
    name, values, record = derive_column(frame, "HighV = V >= median")
    assert name == "HighV" and record["value"] == 2.5 and values.tolist() == [0.0, 0.0, 1.0, 1.0]
    name, values, _ = derive_column(frame, "H==LMS")
    assert values.tolist()[:3] == [1.0, 0.0, 1.0] and np.isnan(values.iloc[3])
    derived, records = add_derived(frame, ["OLD=AGE>65", "OLDLMS=OLD==1"])
    assert derived["OLD"].tolist()[:3] == [0.0, 0.0, 1.0] and records[0]["name"] == "OLD"
    with pytest.raises(ValueError, match="unknown column 'AGEX'"):
        derive_column(frame, "AGEX>=65")
    with pytest.raises(ValueError, match="cannot parse"):
        derive_column(frame, "AGE")


def test_type_detection_and_overrides():
    frame = pd.DataFrame({"a": [1.5, 2.5, 3.5], "b": [0, 1, 1], "c": ["x", "y", "z"], "s": ["M", "F", "M"], "e": [0, 1, 2]})
    assert detect_types(frame) == {"a": CONTINUOUS, "b": BINARY, "c": CATEGORICAL, "s": BINARY, "e": CONTINUOUS}
    assert detect_types(frame, {"e": CATEGORICAL})["e"] == CATEGORICAL
    with pytest.raises(ValueError, match="unknown type 'ordinal'"):
        detect_types(frame, {"e": "ordinal"})


def test_missing_report_and_listwise_deletion():
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": [np.nan, np.nan, 1.0, 2.0]})
    report = missing_report(frame)
    assert report.set_index("column")["missing"].to_dict() == {"a": 1, "b": 2}
    assert report.set_index("column")["missing_percent"]["b"] == 50.0
    assert complete_cases(frame, ["a", "b"]).index.tolist() == [2, 3]


def test_non_numeric_values_are_named():
    frame = pd.DataFrame({"x": ["1", "2", "n/a?"]})
    with pytest.raises(ValueError, match=r"column 'x' is not numeric \(e.g. value 'n/a\?'\)"):
        numeric_columns(frame, ["x"], "correlate")
