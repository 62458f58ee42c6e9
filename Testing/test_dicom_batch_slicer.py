"""The headless Slicer script `MIRVBatch.py` on DICOM input (CT series folders, SEG/RTSTRUCT lesions) and with
`--dicom-out`: the same features, patients.csv and SR values as `mirv batch` / the NRRD copy of the same cohort
(plain Python with slicer-core; the cohort is `dicom_cohort`'s)."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from batch_cohort import write_small_preset
from dicom_cohort import make_dicom_cohort
from slicer_env import REPO_ROOT, make_slicer_environment, slicer  # noqa: F401  (skips without slicer-core)

hd = pytest.importorskip("highdicom")

from MIRVLib.cli import main as mirv_main  # noqa: E402

pytestmark = pytest.mark.slicer
SCRIPTS = REPO_ROOT / "MIRV" / "Scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import MIRVBatch  # noqa: E402

REDUCTION = ["--feature-correlation", "0.9", "--volume-correlation", "0.2"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    return root, *make_dicom_cohort(root)


def sr_values(path):
    """Tracking identifier → {measurement: value} of every measurement group of a TID 1500 SR."""
    content = hd.sr.srread(path).content
    groups = [*content.get_volumetric_roi_measurement_groups(), *content.get_image_measurement_groups()]
    return {g.tracking_identifier: {m.name.meaning: m.value for m in g.get_measurements()} for g in groups}


def test_dicom_manifest_through_the_logic_equals_mirv_batch(cohort):
    root, nrrd, dicom = cohort
    options = ["--preset", str(write_small_preset(root)), *REDUCTION]
    assert mirv_main(["batch", "--manifest", str(dicom), "--out", str(root / "cli"), *options,
                      "--dicom-out", str(root / "cli-dicom")]) == 0
    assert MIRVBatch.main(["--manifest", str(dicom), "--out", str(root / "slicer"), *options,
                           "--dicom-out", str(root / "slicer-dicom")]) == 0
    assert (root / "slicer" / "patients.csv").read_bytes() == (root / "cli" / "patients.csv").read_bytes()
    lesions = [pd.read_csv(root / run / "lesions.csv", float_precision="round_trip") for run in ("cli", "slicer")]
    features = [c for c in lesions[0].columns if c.startswith("original_")]
    np.testing.assert_array_equal(lesions[1][features].to_numpy(float), lesions[0][features].to_numpy(float))
    for patient in ("P01", "P02", "P03", "P04"):  # SEG (odd) and RTSTRUCT (even) lesions
        slicer_sr, cli_sr = (sr_values(root / run / f"{patient}_sr.dcm") for run in ("slicer-dicom", "cli-dicom"))
        assert slicer_sr == cli_sr and len(slicer_sr) == 1 + (2 + int(patient[-1]) % 3)
        seg = hd.seg.segread(root / "slicer-dicom" / f"{patient}_seg.dcm")
        assert seg.get_volume().array.sum() == lesions[1].loc[lesions[1]["PatientID"] == patient,
                                                             "original_shape_VoxelVolume"].sum() / 2.0  # 2 mm³ voxels


def test_one_dicom_patient_equals_its_nrrd_copy_and_writes_seg_and_sr(cohort, capsys):
    root, nrrd, dicom = cohort
    common = ["--no-render", "--patient-id", "P02"]
    assert MIRVBatch.main(["--image", str(root / "P02" / "baseline" / "ct.nrrd"), "--lesions",
                           str(root / "P02" / "baseline" / "lesions"),
                           "--out", str(root / "one-nrrd"), *common]) == 0
    assert MIRVBatch.main(["--image", str(root / "P02" / "dicom" / "CT"), "--lesions",
                           str(root / "P02" / "dicom" / "RTSTRUCT"), "--out", str(root / "one-dicom"), *common,
                           "--dicom-out", str(root / "one-dicom"), "--dicom-seed", "one"]) == 0
    assert "P02_sr.dcm" in capsys.readouterr().out
    tables = [pd.read_csv(root / run / "P02_lesions.csv", float_precision="round_trip") for run in ("one-nrrd", "one-dicom")]
    features = [c for c in tables[0].columns if c.startswith("original_")]
    assert tables[1]["LesionID"].tolist() == tables[0]["LesionID"].tolist() == ["lesion1", "lesion2", "lesion3", "lesion4"]
    np.testing.assert_array_equal(tables[1][features].to_numpy(float), tables[0][features].to_numpy(float))
    patients = pd.read_csv(root / "one-dicom" / "patients.csv", float_precision="round_trip")
    values = sr_values(root / "one-dicom" / "P02_sr.dcm")
    assert values["patient"]["MIRVMaxDissimilarity"] == patients["MIRVMaxDissimilarity"].iloc[0]
    for row in tables[1].itertuples(index=False):
        assert values[row.LesionID]["Volume"] == row.original_shape_VoxelVolume


def test_dicom_out_needs_a_dicom_ct(cohort, capsys):
    root, _, _ = cohort
    assert MIRVBatch.main(["--image", str(root / "P01" / "baseline" / "ct.nrrd"),
                           "--lesions", str(root / "P01" / "baseline" / "lesions"),
                           "--out", str(root / "bad"), "--no-render", "--dicom-out", str(root / "bad")]) == 2
    err = capsys.readouterr().err
    assert f"--image {root / 'P01' / 'baseline' / 'ct.nrrd'}" in err and "must be a DICOM series folder" in err
    assert not (root / "bad" / "patients.csv").exists()


def test_manifest_dicom_out_needs_dicom_images(cohort, capsys):
    root, nrrd, _ = cohort
    assert MIRVBatch.main(["--manifest", str(nrrd), "--out", str(root / "bad-manifest"),
                           "--dicom-out", str(root / "bad-manifest")]) == 2
    err = capsys.readouterr().err
    assert "line 2, patient P01: Image" in err and "must be a DICOM series folder" in err
    assert not (root / "bad-manifest" / "lesions.csv").exists()


def test_volume_from_sitk_image_round_trips_an_oblique_image():
    """`volume_from_sitk_image` is the inverse of `sitk_image_from_volume` (LPS ↔ RAS), also off the axes."""
    import SimpleITK as sitk

    from MIRVLogic.mrml import sitk_image_from_volume, volume_from_sitk_image

    voxels = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing((0.7, 0.8, 2.5))
    image.SetOrigin((-120.0, 35.5, 10.0))
    c, s = np.cos(0.3), np.sin(0.3)
    image.SetDirection((c, -s, 0.0, s, c, 0.0, 0.0, 0.0, -1.0))
    scene = make_slicer_environment().scene
    back = sitk_image_from_volume(volume_from_sitk_image(scene, image, "oblique"))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), voxels)
    for got, expected in ((back.GetSpacing(), image.GetSpacing()), (back.GetOrigin(), image.GetOrigin()),
                          (back.GetDirection(), image.GetDirection())):
        np.testing.assert_allclose(got, expected, atol=1e-12)
    # Slicer's own RAS geometry: the first two axes of the LPS origin change sign
    volume = scene.GetFirstNodeByName("oblique")
    np.testing.assert_allclose(volume.GetOrigin(), (120.0, -35.5, 10.0), atol=1e-12)
