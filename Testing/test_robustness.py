"""Segmentation-robustness filter: exact 1 mm erosion/dilation, Lin's CCC on hand-computed cases, the list."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from pyradiomics_data import ball_mask, light_preset, synthetic_ct, write_image_and_masks

from MIRVLib.cli import main
from MIRVLib.lesions import Lesion, conform_mask, full_mask
from MIRVLib.robustness import (
    concordance_table,
    lins_ccc,
    perturb_mask,
    perturbed_lesions,
    robust_features,
    run_robustness,
)


def _cube(spacing, size=12, lo=4, hi=9) -> sitk.Image:
    array = np.zeros((size, size, size), np.uint8)
    array[lo:hi, lo:hi, lo:hi] = 1
    mask = sitk.GetImageFromArray(array)
    mask.SetSpacing(spacing)
    return mask


def _count(mask: sitk.Image) -> int:
    return int(sitk.GetArrayViewFromImage(mask).sum())


def test_erode_and_dilate_by_one_mm_on_a_1mm_grid():
    cube = _cube((1.0, 1.0, 1.0))  # 5×5×5
    assert _count(perturb_mask(cube, 1.0, "erode")) == 27  # the 3×3×3 interior
    assert _count(perturb_mask(cube, 1.0, "dilate")) == 125 + 6 * 25  # one face layer on each side, no edges
    single = _cube((1.0, 1.0, 1.0), lo=5, hi=6)
    assert _count(perturb_mask(single, 1.0, "dilate")) == 7
    assert _count(perturb_mask(single, 1.0, "erode")) == 0


def test_a_2d_lesion_is_perturbed_in_its_plane():
    square = np.zeros((12, 12), np.uint8)
    square[3:8, 3:8] = 1  # 5×5 on a 1-mm grid
    mask = sitk.GetImageFromArray(square)
    assert _count(perturb_mask(mask, 1.0, "erode")) == 9
    assert _count(perturb_mask(mask, 1.0, "dilate")) == 25 + 4 * 5


def test_anisotropic_grid_moves_only_the_in_plane_contour():
    cube = _cube((0.5, 0.5, 5.0))  # 1 mm = 2 voxels in-plane, less than one slice
    eroded = sitk.GetArrayFromImage(perturb_mask(cube, 1.0, "erode"))
    assert eroded.sum() == 5 * 1 * 1  # in-plane 5 → 1 (two voxels off each side), all 5 slices kept
    dilated = sitk.GetArrayFromImage(perturb_mask(cube, 1.0, "dilate"))
    # in-plane disc of radius 1 mm around a 5×5 square: square 9×9 minus the 4×(3) corner voxels beyond 1 mm
    per_slice = sum(1 for y in range(-2, 7) for x in range(-2, 7)
                    if np.hypot(0.5 * max(0, -y, y - 4), 0.5 * max(0, -x, x - 4)) <= 1.0)
    assert dilated.sum() == 5 * per_slice


@pytest.mark.parametrize("mode", ["erode", "dilate"])
def test_perturbed_lesions_equal_perturbing_the_whole_image_mask(mode):
    """Lesion boxes are perturbed on a widened box; the result must be that of the whole-image mask."""
    ct = synthetic_ct()
    masks = [ball_mask(ct, (30, 32, 10), 6), ball_mask(ct, (2, 32, 10), 6), ball_mask(ct, (30, 32, 1), 3)]  # 2 at borders
    lesions = [Lesion(f"L{i}", conform_mask(mask, ct)[0]) for i, mask in enumerate(masks)]
    for radius in (1.0, 3.0):
        for lesion, mask in zip(perturbed_lesions(lesions, radius, mode, ct), masks):
            expected = conform_mask(perturb_mask(mask, radius, mode), ct)[0]
            assert lesion.mask.GetSize() == expected.GetSize() and lesion.mask.GetOrigin() == expected.GetOrigin()
            np.testing.assert_array_equal(sitk.GetArrayFromImage(full_mask(lesion.mask, ct)),
                                          sitk.GetArrayFromImage(full_mask(expected, ct)))


def test_lins_ccc_hand_computed():
    assert lins_ccc([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert lins_ccc([1, 2, 3], [2, 3, 4]) == pytest.approx(4 / 7)  # 2·(2/3) / (2/3 + 2/3 + 1)
    assert lins_ccc([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert lins_ccc([1, 2, 3], [2, 4, 6]) == pytest.approx(2 * (4 / 3) / (2 / 3 + 8 / 3 + 4))


def test_concordance_table_matches_lesions_and_skips_failed_ones():
    ids = {"PatientID": ["P", "P", "P", "Q"], "LesionID": ["a", "b", "c", "a"], "SegmentID": "", "Site": ""}
    original = pd.DataFrame({**ids, "Status": ["ok"] * 4, "f": [1.0, 2.0, 3.0, 4.0], "g": [1.0, 1.0, 2.0, 2.0]})
    eroded = pd.DataFrame({**ids, "Status": ["ok", "ok", "ok", "error: empty segment (no voxels)"],
                           "f": [1.0, 2.0, 3.0, np.nan], "g": [2.0, 3.0, 4.0, np.nan]})
    dilated = original.iloc[::-1].copy()  # same lesions, other row order
    table = concordance_table(original, {"erode": eroded, "dilate": dilated})
    assert table.loc["f", "CCC_erode"] == pytest.approx(1.0) and table.loc["f", "CCC_dilate"] == pytest.approx(1.0)
    assert table.loc["g", "CCC_erode"] == pytest.approx(lins_ccc([1, 1, 2], [2, 3, 4]))
    assert table["Lesions"].iloc[0] == 3
    assert robust_features(table, 0.8) == ["f"]


def test_run_robustness_and_cli(tmp_path):
    ct = synthetic_ct()
    lesions = [Lesion(f"L{i}", ball_mask(ct, centre, radius)) for i, (centre, radius) in
               enumerate([((30, 32, 10), 7), ((18, 40, 8), 4), ((44, 22, 12), 5), ((24, 24, 6), 6)])]
    preset = light_preset(tmp_path)
    result = run_robustness([("P1", ct, lesions)], preset, radius_mm=1.0, threshold=0.8)
    volumes = {name: frame.set_index("LesionID")["original_shape_VoxelVolume"] for name, frame in result.extracted.items()}
    assert (volumes["erode"] < volumes["original"]).all() and (volumes["dilate"] > volumes["original"]).all()
    expected = lins_ccc(volumes["original"], volumes["erode"])
    assert result.table.loc["original_shape_VoxelVolume", "CCC_erode"] == pytest.approx(expected)
    assert result.features == [f for f in result.table.index if result.table.loc[f, "CCC_min"] >= 0.8]
    assert 0 < len(result.features) < len(result.table)

    image, folder = write_image_and_masks(tmp_path, ct, {lesion.name: lesion.mask for lesion in lesions})
    out = tmp_path / "robust.txt"
    code = main(["robustness", "--image", str(image), "--lesions", str(folder), "--patient-id", "P1",
                 "--preset", str(preset), "--engine", "pyradiomics", "--out", str(out), "--no-progress"])
    assert code == 0  # PyRadiomics itself on the CLI; the native engine (default) in run_robustness above
    listed = [line for line in out.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    assert listed == result.features
    table = pd.read_csv(tmp_path / "robust.ccc.csv", index_col="Feature")
    np.testing.assert_allclose(table["CCC_min"], result.table["CCC_min"], rtol=1e-9)
    provenance = json.loads((tmp_path / "robust.txt.provenance.json").read_text(encoding="utf-8"))
    assert provenance["extraction"]["cases"][0]["engine"]["name"] == "pyradiomics"
    assert result.provenance["cases"][0]["engine"]["name"] == "native"
    from MIRVLib.reduction import read_feature_list

    assert read_feature_list(out) == result.features  # what `mirv cohort --restrict-to` reads


def test_cli_cases_manifest(tmp_path, capsys):
    ct = synthetic_ct()
    image, folder = write_image_and_masks(tmp_path, ct, {f"L{i}": ball_mask(ct, centre, radius) for i, (centre, radius)
                                                         in enumerate([((30, 32, 10), 7), ((18, 40, 8), 4), ((44, 22, 12), 5)])})
    pd.DataFrame({"PatientID": ["A", "B"], "Image": [str(image)] * 2,
                  "Lesions": [str(folder)] * 2}).to_csv(tmp_path / "cases.csv", index=False)
    out = tmp_path / "r.txt"
    assert main(["robustness", "--cases", str(tmp_path / "cases.csv"), "--preset", str(light_preset(tmp_path)),
                 "--out", str(out), "--no-progress"]) == 0
    assert pd.read_csv(tmp_path / "r.ccc.csv")["Lesions"].iloc[0] == 6  # 3 lesions × 2 patients
    pd.DataFrame({"PatientID": ["A"], "Image": ["x"]}).to_csv(tmp_path / "bad.csv", index=False)
    assert main(["robustness", "--cases", str(tmp_path / "bad.csv"), "--out", str(out), "--no-progress"]) == 2
    assert "bad.csv: missing column(s) ['Lesions']" in capsys.readouterr().err


def test_a_resampled_mask_keeps_its_warning_in_the_provenance(tmp_path):
    """Masks are put on the image grid before they are perturbed; the resampling note must survive that."""
    ct = synthetic_ct()
    mask = ball_mask(ct, (30, 32, 10), 6)
    finer = sitk.Resample(mask, [s * 2 for s in mask.GetSize()], sitk.Transform(), sitk.sitkNearestNeighbor,
                          mask.GetOrigin(), [s / 2 for s in mask.GetSpacing()], mask.GetDirection())
    lesions = [Lesion("finer", finer), Lesion("other", ball_mask(ct, (18, 40, 8), 4))]
    result = run_robustness([("P1", ct, lesions)], light_preset(tmp_path))
    warnings = {entry["LesionID"]: entry["warnings"] for entry in result.provenance["cases"][0]["lesions"]}
    assert any("resampled with nearest neighbour" in w for w in warnings["finer"])
    assert warnings["other"] == []
