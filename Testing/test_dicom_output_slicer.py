"""MIRVLogic.exportDicom on real MRML (slicer-core): the sample patient extracted and scored in the module's
logic, exported as DICOM SEG + TID 1500 SR against the sample's DICOM twin, read back with highdicom."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from slicer_env import SAMPLE, load_sample_patient, slicer  # noqa: F401  (skips without slicer-core)

hd = pytest.importorskip("highdicom")
pydicom = pytest.importorskip("pydicom")

from MIRVLib.dicom.sample_study import write_study  # noqa: E402
from MIRVLib.lesions import full_mask, load_image, load_lesions  # noqa: E402

pytestmark = pytest.mark.slicer


def test_export_dicom_writes_the_scored_patient(slicer_env, tmp_path):
    image = load_image(SAMPLE / "baseline_CT.nrrd")
    lesions = load_lesions(SAMPLE / "baseline_lesions.seg.nrrd", reference_image=image)
    study = write_study(image, lesions, tmp_path / "study")
    scene = slicer_env.scene
    volume, segmentation = load_sample_patient(scene)
    logic = slicer_env.logic("mirv")
    table = logic.extractFeatures(volume, segmentation, patientID="SAMPLE")
    result = logic.computeMIRV(table, model="SARC021-lung-reference")

    with pytest.raises(ValueError, match="DICOM database"):
        logic.exportDicom(result, tmp_path / "out")
    seg_path, sr_path = logic.exportDicom(result, tmp_path / "out", ctFolder=study.ct_folder, seed="slicer")

    frame = logic.featureFrame(table).set_index("LesionID")
    selected = result.cohort.reduction.selected
    sr = hd.sr.srread(sr_path)
    groups = {g.tracking_identifier: g for g in sr.content.get_volumetric_roi_measurement_groups()}
    assert sorted(groups) == sorted(frame.index)
    for name, group in groups.items():
        values = {m.name.meaning: m.value for m in group.get_measurements()}
        assert values == {"Volume": float(frame.loc[name, "original_shape_VoxelVolume"]),
                          **{f: float(frame.loc[name, f]) for f in selected}}
    (summary,) = sr.content.get_image_measurement_groups()
    values = {m.name.meaning: m.value for m in summary.get_measurements()}
    row = result.exportRow()
    assert values["MIRVMaxDissimilarity"] == row["MIRVMaxDissimilarity"]
    assert values["MIRVMaxDistance"] == row["MIRVMaxDistance"]
    assert values["NumLesions"] == row["NumLesions"] == len(lesions)

    seg = hd.seg.segread(seg_path)
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in study.ct_folder.iterdir()]
    uids = [str(ds.SOPInstanceUID) for ds in sorted(headers, key=lambda ds: float(ds.ImagePositionPatient[2]))]
    by_label = {seg.get_segment_description(n).segment_label: n for n in seg.segment_numbers}
    for lesion in lesions:
        pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=[by_label[lesion.name]])
        np.testing.assert_array_equal(pixels[..., 0], sitk.GetArrayFromImage(full_mask(lesion.mask, image)))
