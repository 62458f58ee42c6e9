"""Bad input is handled per lesion: each case gets the expected Status or warning, and the rest of the
patient is still extracted (issue 4 §5)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk
from pyradiomics_data import ball_mask, light_preset, synthetic_ct

from MIRVLib.extraction import METADATA_COLUMNS, extract_patient, prepare_image
from MIRVLib.lesions import Lesion


@pytest.fixture(scope="module")
def ct() -> sitk.Image:
    return synthetic_ct()


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    return light_preset(tmp_path_factory.mktemp("preset"))


def _mask(reference: sitk.Image, voxels) -> sitk.Image:
    array = np.zeros(tuple(reversed(reference.GetSize())), np.uint8)
    for z, y, x in voxels:
        array[z, y, x] = 1
    mask = sitk.GetImageFromArray(array)
    mask.CopyInformation(reference)
    return mask


def _status(result, name: str) -> str:
    return result.features.set_index("LesionID").loc[name, "Status"]


def _warnings(result, name: str) -> list[str]:
    return next(entry["warnings"] for entry in result.provenance["lesions"] if entry["LesionID"] == name)


@pytest.mark.parametrize("jobs", [1, 2])
def test_failing_lesions_get_their_status_and_the_patient_goes_on(ct, preset, jobs):
    lesions = [
        Lesion("good", ball_mask(ct, (32, 32, 10), 6)),
        Lesion("empty", _mask(ct, [])),
        Lesion("one_voxel", _mask(ct, [(10, 30, 30)])),
        Lesion("line", _mask(ct, [(10, 30, 30), (10, 30, 31), (10, 30, 32)])),  # 1-D: below PyRadiomics' minimum
        Lesion("good_too", ball_mask(ct, (20, 40, 8), 5)),
    ]
    result = extract_patient(ct, lesions, preset, patient_id="P1", jobs=jobs)
    assert list(result.features["LesionID"]) == ["good", "empty", "one_voxel", "line", "good_too"]
    assert _status(result, "good") == "ok" and _status(result, "good_too") == "ok"
    assert _status(result, "empty") == "error: empty segment (no voxels)"
    assert "mask only contains 1 segmented voxel" in _status(result, "one_voxel")
    assert "too few dimensions (number of dimensions 1, minimum required 2)" in _status(result, "line")
    failed = result.features.set_index("LesionID").loc[["empty", "one_voxel", "line"]]
    assert failed.filter(like="original_").isna().all(axis=None)
    assert result.features.set_index("LesionID").loc["good", "original_shape_VoxelVolume"] > 0


def test_lesion_touching_the_image_border_is_extracted_with_a_warning(ct, preset):
    result = extract_patient(ct, [Lesion("edge", ball_mask(ct, (2, 32, 10), 6))], preset)
    assert _status(result, "edge") == "ok"
    assert any("touches the image border along x" in w for w in _warnings(result, "edge"))


def test_overlapping_lesions_are_both_extracted_with_a_warning(ct, preset):
    a, b = ball_mask(ct, (30, 32, 10), 6), ball_mask(ct, (36, 32, 10), 6)
    shared = int(np.count_nonzero(sitk.GetArrayViewFromImage(a) & sitk.GetArrayViewFromImage(b)))
    result = extract_patient(ct, [Lesion("a", a), Lesion("b", b)], preset)
    assert list(result.features["Status"]) == ["ok", "ok"]
    expected = f"lesions 'a' and 'b' overlap by {shared} voxels"
    assert any(expected in w for w in _warnings(result, "a")) and any(expected in w for w in _warnings(result, "b"))
    volumes = result.features.set_index("LesionID")["original_shape_VoxelVolume"]
    alone = extract_patient(ct, [Lesion("b", b)], preset).features["original_shape_VoxelVolume"].iloc[0]
    assert volumes["b"] == alone  # each lesion keeps its full mask


def test_mask_on_another_grid_is_resampled_with_nearest_neighbour(ct, preset):
    mask = ball_mask(ct, (32, 32, 10), 6)
    cropped = mask[10:50, 12:52, 3:18]  # same voxels, smaller extent and other origin (Slicer's cropped .seg.nrrd)
    finer = sitk.Resample(mask, [s * 2 for s in mask.GetSize()], sitk.Transform(), sitk.sitkNearestNeighbor,
                          mask.GetOrigin(), [s / 2 for s in mask.GetSpacing()], mask.GetDirection())
    lesions = [Lesion("full", mask), Lesion("cropped", cropped), Lesion("finer", finer)]
    result = extract_patient(ct, lesions, preset)
    table = result.features.set_index("LesionID")
    assert list(table["Status"]) == ["ok", "ok", "ok"]
    features = table.filter(like="original_")
    np.testing.assert_array_equal(features.loc["cropped"], features.loc["full"])
    assert not any("resampled" in w for w in _warnings(result, "cropped"))  # same grid, smaller: pasted in place
    assert any("resampled with nearest neighbour" in w for w in _warnings(result, "finer"))
    np.testing.assert_array_equal(features.loc["finer"], features.loc["full"])  # finer grid contains the image grid


def test_mask_with_other_orientation_or_outside_the_image_is_an_error(ct, preset):
    rotated = ball_mask(ct, (32, 32, 10), 6)
    rotated.SetDirection((0, 1, 0, 1, 0, 0, 0, 0, 1))
    shifted = ball_mask(ct, (32, 32, 10), 6)
    shifted.SetOrigin(np.array(ct.GetOrigin()) + np.array([200.0, 0.0, 0.0]))
    lesions = [Lesion("rotated", rotated), Lesion("shifted", shifted), Lesion("good", ball_mask(ct, (32, 32, 10), 6))]
    result = extract_patient(ct, lesions, preset)
    assert _status(result, "rotated").startswith("error: lesion 'rotated': mask orientation")
    assert "differs from the image orientation" in _status(result, "rotated")
    assert _status(result, "shifted").startswith("error: lesion 'shifted': the segmented voxels reach outside the image")
    assert _status(result, "good") == "ok"


def test_non_ct_intensities_give_a_warning(ct, preset, caplog):
    mri_like = sitk.Cast(sitk.RescaleIntensity(ct, 0, 800), sitk.sitkInt16)
    with caplog.at_level(logging.WARNING):
        result = extract_patient(mri_like, [Lesion("x", ball_mask(ct, (32, 32, 10), 6))], preset, patient_id="MR1")
    assert _status(result, "x") == "ok"
    warnings = result.provenance["imageWarnings"]
    assert warnings and "do not look like CT in Hounsfield units" in warnings[0]
    assert "patient MR1" in caplog.text and "Hounsfield" in caplog.text
    assert prepare_image(ct, preset).warnings == []


def test_all_lesions_failing_still_gives_the_feature_columns(ct, preset):
    good = extract_patient(ct, [Lesion("good", ball_mask(ct, (32, 32, 10), 6))], preset).features
    result = extract_patient(ct, [Lesion("empty", _mask(ct, []))], preset)
    assert list(result.features.columns) == list(good.columns)
    assert list(result.features.columns[:5]) == list(METADATA_COLUMNS)
    assert result.features.iloc[0, 5:].isna().all()


def test_border_and_overlap_checks_on_a_2d_image():
    from MIRVLib.extraction import lesion_checks

    image = sitk.GetImageFromArray(np.zeros((40, 50), np.int16))
    edge, inner = np.zeros((40, 50), np.uint8), np.zeros((40, 50), np.uint8)
    edge[0:10, 10:20] = 1  # touches the first row (y)
    inner[5:15, 15:25] = 1  # shares a 5×5 corner with it
    lesions = [Lesion(name, sitk.GetImageFromArray(voxels)) for name, voxels in (("edge", edge), ("inner", inner))]
    notes = lesion_checks(image, lesions)
    assert notes["edge"][0] == "lesion 'edge' touches the image border along y; it may be cut off"
    assert notes["inner"] == ["lesions 'edge' and 'inner' overlap by 25 voxels; each keeps its full mask"]
