"""Results as DICOM: the SEG of the lesions and the TID 1500 SR, checked by reading them back with highdicom.

The sample patient (Resources/SampleData, baseline) is written as a DICOM study by ``MIRVLib.dicom.sample_study``;
``mirv extract`` reads that CT + SEG and writes the SEG/SR of the extraction, ``mirv cohort`` (shipped SARC021
model) the SR with the selected features and MIRV values. Every value in the SR is compared with the CSV the
same run wrote, every reference with the SOP Instance UIDs of the files on disk, every SEG voxel with the NRRD
lesion masks.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

hd = pytest.importorskip("highdicom")
pydicom = pytest.importorskip("pydicom")

from pydicom.sr.codedict import codes  # noqa: E402

from MIRVLib.cli import main  # noqa: E402
from MIRVLib.dicom import DicomError  # noqa: E402
from MIRVLib.dicom.codes import PRIVATE_SCHEME, site_code, site_from_code  # noqa: E402
from MIRVLib.dicom.results import write_patient_dicom  # noqa: E402
from MIRVLib.dicom.sample_study import write_study  # noqa: E402
from MIRVLib.dicom.seg_output import dicom_cielab, write_seg  # noqa: E402
from MIRVLib.dicom.series import read_series  # noqa: E402
from MIRVLib.dicom.sr_output import patient_group, write_measurement_report  # noqa: E402
from MIRVLib.lesions import full_mask, load_image, load_lesions  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "Resources" / "SampleData"
PATIENT = "SAMPLE"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The NRRD sample patient (image, conformed lesions) and its DICOM twin."""
    image = load_image(SAMPLE / "baseline_CT.nrrd")
    lesions = load_lesions(SAMPLE / "baseline_lesions.seg.nrrd", reference_image=image)
    study = write_study(image, lesions, tmp_path_factory.mktemp("study"))
    return image, lesions, study


@pytest.fixture(scope="module")
def extracted(sample, tmp_path_factory):
    """`mirv extract` on the DICOM CT + SEG with --dicom-out, then `mirv cohort` with the shipped model."""
    _, _, study = sample
    out = tmp_path_factory.mktemp("run")
    code = main(["extract", "--image", str(study.ct_folder), "--lesions", str(study.seg), "--patient-id", PATIENT,
                 "--out", str(out / "lesions.csv"), "--dicom-out", str(out / "extract"), "--dicom-seed", "t1",
                 "--no-progress"])
    assert code == 0
    manifest = out / "manifest.csv"
    manifest.write_text(f"PatientID,Image,Lesions\n{PATIENT},{study.ct_folder},{study.seg}\n", encoding="utf-8")
    code = main(["cohort", "--features", str(out / "lesions.csv"), "--model", "SARC021-lung-reference",
                 "--out", str(out / "cohort"), "--dicom-out", str(out / "cohort-dicom"), "--dicom-manifest",
                 str(manifest), "--dicom-seed", "t1"])
    assert code == 0
    return out


def ct_uids(study) -> list[str]:
    """SOP Instance UIDs of the CT files as stored, in slice order (by ImagePositionPatient z)."""
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in sorted(Path(study.ct_folder).iterdir())]
    headers.sort(key=lambda h: float(h.ImagePositionPatient[2]))
    return [str(h.SOPInstanceUID) for h in headers]


def measurements(group) -> dict[str, tuple[float, str]]:
    """Code meaning → (value, UCUM unit) of a measurement group."""
    return {m.name.meaning: (m.value, m.unit.value) for m in group.get_measurements()}


def lesion_groups(sr_path: Path):
    sr = hd.sr.srread(sr_path)
    return sr, {g.tracking_identifier: g for g in sr.content.get_volumetric_roi_measurement_groups()}


def test_seg_reads_back_to_the_lesion_masks_voxel_for_voxel(sample, extracted):
    image, lesions, study = sample
    seg = hd.seg.segread(extracted / "extract" / f"{PATIENT}_seg.dcm")
    uids = ct_uids(study)
    assert seg.number_of_segments == len(lesions)
    for number, lesion in enumerate(lesions, start=1):
        description = seg.get_segment_description(number)
        assert description.segment_label == lesion.name
        assert description.tracking_id == lesion.name
        pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids, segment_numbers=[number])
        expected = sitk.GetArrayFromImage(full_mask(lesion.mask, image))
        assert pixels.shape == (*expected.shape, 1)
        np.testing.assert_array_equal(pixels[..., 0], expected)
        region = description.anatomic_regions[0]
        assert site_from_code(region.value, region.scheme_designator, region.meaning) == lesion.site


def test_seg_site_codes_are_the_dicom_snomed_codes(sample, extracted):
    seg = hd.seg.segread(extracted / "extract" / f"{PATIENT}_seg.dcm")
    names = {"lung": "Lung", "liver": "Liver", "bone": "Bone", "lymph node": "LymphNode", "soft tissue": "SoftTissue"}
    expected = {site: getattr(codes.SCT, name) for site, name in names.items() if hasattr(codes.SCT, name)}
    # pydicom 2.4 (the newest on Python 3.9) has no SoftTissue concept: that one site is checked on pydicom 3 only
    assert len(expected) == len(names) or (int(pydicom.__version__.split(".")[0]) < 3 and "soft tissue" not in expected)
    for number, lesion in enumerate(sample[1], start=1):
        description = seg.get_segment_description(number)
        region = description.anatomic_regions[0]
        if lesion.site in expected:
            assert (region.value, region.scheme_designator) == (expected[lesion.site].value, "SCT")
        assert description.segmented_property_type.value == codes.SCT.Neoplasm.value
        assert description.segmented_property_category.value == codes.SCT.MorphologicallyAbnormalStructure.value


def test_extract_sr_carries_volumes_and_every_feature_of_lesions_csv(extracted):
    table = pd.read_csv(extracted / "lesions.csv", float_precision="round_trip")
    features = [c for c in table.columns if c not in ("PatientID", "LesionID", "SegmentID", "Site", "Status")]
    _, groups = lesion_groups(extracted / "extract" / f"{PATIENT}_sr.dcm")
    assert sorted(groups) == sorted(table["LesionID"])
    for _, row in table.iterrows():
        found = measurements(groups[row["LesionID"]])
        assert found["Volume"] == (row["original_shape_VoxelVolume"], "mm3")
        assert {name: value for name, (value, _) in found.items() if name != "Volume"} == {f: row[f] for f in features}
        assert found["original_shape_Maximum3DDiameter"][1] == "mm"


def test_cohort_sr_carries_selected_features_and_patients_csv(extracted):
    table = pd.read_csv(extracted / "lesions.csv", float_precision="round_trip").set_index("LesionID")
    patients = pd.read_csv(extracted / "cohort" / "patients.csv", float_precision="round_trip")
    selected = list(pd.read_csv(extracted / "cohort" / "selected_features.csv")["Feature"])
    sr, groups = lesion_groups(extracted / "cohort-dicom" / f"{PATIENT}_sr.dcm")
    for name, group in groups.items():
        found = measurements(group)
        assert list(found) == ["Volume", *selected]
        assert [value for value, _ in found.values()] == [table.loc[name, "original_shape_VoxelVolume"],
                                                          *table.loc[name, selected]]
    (summary,) = sr.content.get_image_measurement_groups()
    assert summary.tracking_identifier == "patient"
    row = patients.iloc[0]
    numeric = {c: float(row[c]) for c in patients.columns
               if c != "PatientID" and pd.api.types.is_numeric_dtype(patients[c]) and np.isfinite(row[c])}
    found = measurements(summary)
    assert {name: value for name, (value, _) in found.items()} == numeric
    assert "MIRVMaxDissimilarity" in numeric and "MIRVMaxDistance" in numeric
    assert found["MIRVMaxDistance"][1] == "{SD}"
    assert found["BaselineVolumeTotal"] == (table["original_shape_VoxelVolume"].sum(), "mm3")


@pytest.mark.parametrize("run", ["extract", "cohort-dicom"])
def test_sr_references_the_ct_instances_and_the_seg(sample, extracted, run):
    study = sample[2]
    seg = pydicom.dcmread(extracted / run / f"{PATIENT}_seg.dcm")
    sr, groups = lesion_groups(extracted / run / f"{PATIENT}_sr.dcm")
    uids = ct_uids(study)
    evidence = {str(instance.ReferencedSOPInstanceUID)
                for study_item in sr.CurrentRequestedProcedureEvidenceSequence
                for series in study_item.ReferencedSeriesSequence for instance in series.ReferencedSOPSequence}
    assert evidence == {*uids, str(seg.SOPInstanceUID)}
    assert sr.StudyInstanceUID == seg.StudyInstanceUID == pydicom.dcmread(study.seg).StudyInstanceUID
    assert sr.PatientID == "MIRV-SAMPLE"
    segments = {int(item.SegmentNumber): item for item in seg.SegmentSequence}
    for name, group in groups.items():
        reference = group.referenced_segment
        assert reference.referenced_sop_instance_uid == seg.SOPInstanceUID
        (number,) = reference.referenced_segment_numbers
        assert segments[number].SegmentLabel == name
        assert group.tracking_uid == segments[number].TrackingUID
        sources = {s.referenced_sop_instance_uid for s in reference.source_images_for_segmentation}
        assert sources and sources <= set(uids)
    (library,) = [item for item in sr.ContentSequence
                  if item.ConceptNameCodeSequence[0].CodeValue == codes.DCM.ImageLibrary.value]
    listed = {str(item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
              for group in library.ContentSequence for item in group.ContentSequence if "ReferencedSOPSequence" in item}
    assert listed == set(uids)


def test_provenance_records_the_dicom_files_and_seed(extracted):
    extract = json.loads((extracted / "lesions.csv.provenance.json").read_text(encoding="utf-8"))["dicom"]
    assert extract == {"PatientID": PATIENT, "seg": str(extracted / "extract" / f"{PATIENT}_seg.dcm"),
                       "sr": str(extracted / "extract" / f"{PATIENT}_sr.dcm"), "seed": "t1"}
    cohort = json.loads((extracted / "cohort" / "provenance.json").read_text(encoding="utf-8"))["dicom"]
    assert cohort["seed"] == "t1" and cohort["manifest"] == str(extracted / "manifest.csv")
    assert cohort["files"] == [{"PatientID": PATIENT, "seg": str(extracted / "cohort-dicom" / f"{PATIENT}_seg.dcm"),
                                "sr": str(extracted / "cohort-dicom" / f"{PATIENT}_sr.dcm")}]


def test_seeded_seg_and_sr_are_reproducible_and_the_seed_changes_uids(sample, extracted, tmp_path):
    image, lesions, study = sample
    series = read_series(study.ct_folder)
    first = write_seg(series.datasets, lesions, tmp_path / "a.dcm", series.image, seed="s")
    again = write_seg(series.datasets[::-1], lesions, tmp_path / "b.dcm", series.image, seed="s")
    other = write_seg(series.datasets, lesions, tmp_path / "c.dcm", series.image, seed="other")
    assert first.read_bytes() == again.read_bytes()
    assert pydicom.dcmread(other).SOPInstanceUID != pydicom.dcmread(first).SOPInstanceUID
    rows = pd.read_csv(extracted / "lesions.csv").iloc[:, :12]
    seg = pydicom.dcmread(first)
    reports = [write_measurement_report(tmp_path / f"{name}.dcm", datasets, seg, rows, seed="s")
               for name, datasets in (("x", series.datasets), ("y", series.datasets[::-1]))]
    assert reports[0].read_bytes() == reports[1].read_bytes()


@pytest.mark.parametrize("names", [("Liver met",), ("Liver met", "Liver met copy", "Lung nodule R")])
def test_single_and_overlapping_lesions_read_back(sample, tmp_path, names):
    """One lesion (a single-segment SEG) and overlapping lesions (one binary volume per segment)."""
    image, lesions, study = sample
    by_name = {lesion.name: lesion for lesion in lesions}
    chosen = [replace(by_name[name.replace(" copy", "")], name=name) for name in names]
    series = read_series(study.ct_folder)
    seg = hd.seg.segread(write_seg(series.datasets, chosen, tmp_path / "seg.dcm", series.image))
    for number, lesion in enumerate(chosen, start=1):
        assert seg.get_segment_description(number).segment_label == lesion.name
        pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=ct_uids(study), segment_numbers=[number])
        np.testing.assert_array_equal(pixels[..., 0], sitk.GetArrayFromImage(full_mask(lesion.mask, image)))


def test_segment_colours_are_the_lesion_colours_in_dicom_cielab(sample):
    """Slicer colours a segment by RecommendedDisplayCIELabValue: the lesion's sRGB colour (components 0..1)."""
    lab = np.array(dicom_cielab((1.0, 0.0, 0.0)))
    # sRGB red is CIE L*a*b* (53.24, 80.09, 67.20) under D65 (Lindbloom); DICOM scales L* 0..100, a*/b* -128..127
    np.testing.assert_allclose([lab[0] * 100 / 0xFFFF, lab[1] * 255 / 0xFFFF - 128, lab[2] * 255 / 0xFFFF - 128],
                               [53.24, 80.09, 67.20], atol=0.05)
    _, lesions, study = sample
    stored = [list(item.RecommendedDisplayCIELabValue) for item in pydicom.dcmread(study.seg).SegmentSequence]
    assert stored == [dicom_cielab(lesion.color) for lesion in lesions]
    if hasattr(hd.color.CIELabColor, "from_rgb"):  # highdicom >= 0.23 converts RGB (components 0..255) itself
        assert stored == [list(hd.color.CIELabColor.from_rgb(*(255 * c for c in lesion.color)).value) for lesion in lesions]


def test_site_codes_round_trip():
    assert site_code("Lung").value == codes.SCT.Lung.value
    assert site_code("Adrenal").value == codes.SCT.AdrenalGland.value
    assert site_code("") is None
    for site in ("other", "left retroperitoneal space (free text)"):
        code = site_code(site)
        assert code.scheme_designator == PRIVATE_SCHEME and len(code.value) <= 16
        assert site_from_code(code.value, code.scheme_designator, code.meaning) == site


def test_patient_group_holds_finite_numbers_only():
    group = patient_group({"PatientID": 123, "NumLesions": 1, "MIRVMaxDistance": float("nan"), "Warnings": "x",
                           "TotalBurdenChangePercent": -25.5}, "1.2.3")
    assert {m.name.meaning: (m.value, m.unit.value) for m in group.get_measurements()} == {
        "NumLesions": (1.0, "1"), "TotalBurdenChangePercent": (-25.5, "%")}


def test_a_table_lesion_without_a_mask_is_an_error_naming_it(sample, extracted, tmp_path):
    image, lesions, study = sample
    rows = pd.read_csv(extracted / "lesions.csv", float_precision="round_trip")
    with pytest.raises(DicomError, match="Liver met"):
        write_patient_dicom(tmp_path, read_series(study.ct_folder), [les for les in lesions if les.name != "Liver met"], rows)


def test_dicom_out_needs_a_dicom_image(sample, tmp_path, capsys):
    code = main(["extract", "--image", str(SAMPLE / "baseline_CT.nrrd"), "--lesions",
                 str(SAMPLE / "baseline_lesions.seg.nrrd"), "--out", str(tmp_path / "l.csv"),
                 "--dicom-out", str(tmp_path / "d"), "--no-progress"])
    assert code == 2
    assert "must be a DICOM series folder" in capsys.readouterr().err
    assert not (tmp_path / "l.csv").exists()


def test_cohort_dicom_input_errors_before_scoring(extracted, tmp_path, capsys):
    base = ["cohort", "--features", str(extracted / "lesions.csv"), "--model", "SARC021-lung-reference",
            "--out", str(tmp_path / "c"), "--dicom-out", str(tmp_path / "d")]
    assert main(base) == 2
    assert "--dicom-manifest" in capsys.readouterr().err
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"PatientID,Image,Lesions\nNOBODY,{tmp_path},{tmp_path}\n", encoding="utf-8")
    assert main([*base, "--dicom-manifest", str(manifest)]) == 2
    assert "NOBODY" in capsys.readouterr().err
    assert not (tmp_path / "c" / "patients.csv").exists()
