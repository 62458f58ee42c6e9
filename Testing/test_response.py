"""Volumes and response pinned by hand-computed cases, incl. lesions seen at one time point only."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from MIRVLib.lesion_table import LESION_ID
from MIRVLib.quantities import format_volume, human_value, units
from MIRVLib.response import (
    BASELINE,
    FOLLOW_UP,
    VolumeTableError,
    lesion_volume_changes,
    matched_volumes,
    validate_volumes,
    volume_response,
)


def _volumes(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["PatientID", "LesionID", "VolumeBaseline", "VolumeFollowUp"])
    return validate_volumes(frame)


def test_matched_lesions_percent_change_range_and_tsrc():
    volumes = _volumes([("A", "L1", 100, 50), ("A", "L2", 200, 260), ("B", "L1", 100, 140), ("B", "L2", 50, 40)])
    changes, patients = volume_response(volumes)
    assert changes["PercentChange"].tolist() == [-50.0, 30.0, 40.0, -20.0]
    assert patients.loc["A", "VolumeChangeRange"] == 80.0 and patients.loc["B", "VolumeChangeRange"] == 60.0
    assert patients.loc["A", "CompleteTumorResponse"] == 1  # every change < 33 %
    assert patients.loc["B", "CompleteTumorResponse"] == 0  # +40 %
    assert patients.loc["A", "BaselineVolumeRange"] == 100.0 and patients.loc["A", "BaselineVolumeTotal"] == 300.0
    assert patients.loc["A", "BaselineVolumeStdDev"] == pytest.approx(math.sqrt(5000))  # ddof 1


def test_three_lesions_burden_change_is_not_the_spread_of_lesion_changes():
    """Hand-computed: 1000 → 500 mm³ (−50 %), 2000 → 2400 (+20 %), 1000 → 1100 (+10 %). Total burden
    4000 → 4000 mm³: 0 % change, while the lesion changes spread over 70 percentage points."""
    volumes = _volumes([("P", "L1", 1000, 500), ("P", "L2", 2000, 2400), ("P", "L3", 1000, 1100)])
    changes, patients = volume_response(volumes)
    assert changes["PercentChange"].tolist() == pytest.approx([-50.0, 20.0, 10.0])
    row = patients.loc["P"]
    assert row["BaselineVolumeTotal"] == 4000.0 and row["FollowUpVolumeTotal"] == 4000.0
    assert row["TotalBurdenChangePercent"] == pytest.approx(0.0)
    assert row["VolumeChangeRange"] == pytest.approx(70.0)
    shrunk = volume_response(_volumes([("P", "L1", 1000, 250), ("P", "L2", 2000, 1500), ("P", "L3", 1000, 0)]))[1]
    assert shrunk.loc["P", "TotalBurdenChangePercent"] == pytest.approx((1750 / 4000 - 1) * 100)  # −56.25 %
    assert format_volume(4000.0) == "4,000 mm³ (4.00 mL)" and format_volume(73238) == "73,238 mm³ (73.24 mL)"
    assert human_value("TotalBurdenChangePercent", -56.25) == "-56.25 %"
    assert human_value("CompleteTumorResponse", 1) == "yes" and human_value("CompleteTumorResponse", 0) == "no"
    assert units(["VolumeBaseline", "VolumeChangeRange"]) == {"VolumeBaseline": "mm3",
                                                              "VolumeChangeRange": "percentage points"}


def test_burden_change_is_undefined_when_a_lesion_was_not_measured_at_follow_up():
    volumes = _volumes([("A", "L1", 100, 90), ("A", "L2", 100, np.nan), ("A", "L3", np.nan, 30)])
    row = volume_response(volumes)[1].loc["A"]
    assert math.isnan(row["FollowUpVolumeTotal"]) and math.isnan(row["TotalBurdenChangePercent"])
    new_lesion = volume_response(_volumes([("A", "L1", 100, 90), ("A", "L3", np.nan, 30)]))[1].loc["A"]
    assert new_lesion["TotalBurdenChangePercent"] == pytest.approx(20.0)  # (90 + 30) / 100 − 1


def test_threshold_is_configurable_and_strict():
    volumes = _volumes([("A", "L1", 100, 133), ("A", "L2", 100, 100)])
    assert volume_response(volumes)[1].loc["A", "CompleteTumorResponse"] == 0  # 33 is not below 33
    assert volume_response(volumes, threshold=50)[1].loc["A", "CompleteTumorResponse"] == 1


def test_one_time_point_lesions_follow_the_plus_minus_100_rule_and_are_flagged():
    volumes = _volumes([("A", "L1", 100, 110), ("A", "L2", 100, 0), ("A", "L3", np.nan, 20)])
    changes, patients = volume_response(volumes)
    assert changes["PercentChange"].tolist() == [10.0, -100.0, 100.0]
    assert changes["Status"].tolist() == ["matched", "disappeared", "new"]
    assert changes["OneTimePointOnly"].tolist() == [False, True, True]
    assert patients.loc["A", "VolumeChangeRange"] == 200.0
    assert patients.loc["A", "CompleteTumorResponse"] == 0  # the new lesion counts as +100 %
    assert patients.loc["A", "NumLesionsOneTimePoint"] == 2
    assert patients.loc["A", "BaselineVolumeTotal"] == 200.0  # the new lesion has no baseline volume


def test_missing_follow_up_policies():
    volumes = _volumes([("A", "L1", 100, 90), ("A", "L2", 100, 150), ("A", "L3", 100, np.nan)])
    unmeasured = volume_response(volumes)[1].loc["A"]
    assert unmeasured["VolumeChangeRange"] == 60.0  # the unmeasured lesion does not enter Δ Volume
    assert unmeasured["NumLesionsUnmeasured"] == 1
    gone = volume_response(volumes, missing_followup="disappeared")[1].loc["A"]
    assert gone["VolumeChangeRange"] == 150.0  # -100 % .. +50 %
    responders = _volumes([("B", "L1", 100, 90), ("B", "L2", 100, np.nan)])
    assert volume_response(responders)[1].loc["B", "CompleteTumorResponse"] == 0
    assert volume_response(responders, missing_followup="disappeared")[1].loc["B", "CompleteTumorResponse"] == 1
    with pytest.raises(ValueError, match="missing_followup"):
        lesion_volume_changes(volumes, "ignore")


def test_bad_volume_tables_name_the_problem():
    with pytest.raises(VolumeTableError, match=r"missing column\(s\) \['VolumeFollowUp'\]"):
        validate_volumes(pd.DataFrame({"PatientID": ["A"], "LesionID": ["L"], "VolumeBaseline": [1.0]}))
    with pytest.raises(VolumeTableError, match="patient A lesion L2 has '-5'"):
        _volumes([("A", "L1", 1, 1), ("A", "L2", -5, 1)])
    with pytest.raises(VolumeTableError, match="patient A lesion L1 has 'big'"):
        _volumes([("A", "L1", "big", 1)])
    with pytest.raises(VolumeTableError, match="duplicate.*A/L1"):
        _volumes([("A", "L1", 1, 1), ("A", "L1", 2, 2)])


def test_empty_lesion_id_in_volumes_is_refused():
    with pytest.raises(VolumeTableError, match=r"empty PatientID/LesionID on line\(s\) \[3\]"):
        _volumes([("A", "L1", 1, 1), ("A", None, 2, 2)])


def test_matched_volumes_one_rule_for_every_entry_point():
    """mirv batch and the Slicer module match time points with this one function: a lesion missing at a time
    point has volume 0 there (docs/methods.md, Volumes and response: −100 % / +100 %), a failed extraction stays unmeasured."""
    baseline = pd.Series({"a": 10.0, "gone": 4.0, "failed": 8.0})
    follow_up = pd.Series({"a": 5.0, "failed": float("nan"), "new": 2.0})
    volumes = matched_volumes("P", baseline, follow_up)
    assert volumes[LESION_ID].tolist() == ["a", "gone", "failed", "new"]
    np.testing.assert_array_equal(volumes[BASELINE], [10.0, 4.0, 8.0, 0.0])
    np.testing.assert_array_equal(volumes[FOLLOW_UP], [5.0, 0.0, np.nan, 2.0])
    changes = lesion_volume_changes(volumes)
    assert changes["Status"].tolist() == ["matched", "disappeared", "unmeasured", "new"]
    np.testing.assert_array_equal(changes["PercentChange"], [-50.0, -100.0, np.nan, 100.0])
    without = matched_volumes("P", baseline, None)
    assert without[FOLLOW_UP].isna().all() and without[LESION_ID].tolist() == ["a", "gone", "failed"]
