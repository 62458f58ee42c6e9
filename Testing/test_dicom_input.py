"""DICOM input: the sample patient as a DICOM study (CT + SEG + RTSTRUCT) reads back as the NRRD sample does.

References: the bundled NRRD sample (voxels, lesions, features), pydicom's raw stored values (rescale), and
analytic voxel counts for the RTSTRUCT rasteriser.
"""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

pydicom = pytest.importorskip("pydicom")
hd = pytest.importorskip("highdicom")

from MIRVLib.cli import main  # noqa: E402
from MIRVLib.dicom import DicomError  # noqa: E402
from MIRVLib.dicom.rtstruct_input import rasterise  # noqa: E402
from MIRVLib.dicom.sample_study import RESCALE_INTERCEPT, write_sample  # noqa: E402
from MIRVLib.dicom.series import read_series  # noqa: E402
from MIRVLib.lesions import Lesion, SourceGrid, full_mask, load_image, load_lesions  # noqa: E402
from MIRVLib.resources import resources_dir  # noqa: E402

SAMPLE = resources_dir() / "SampleData"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("dicom") / "study")


@pytest.fixture(scope="module")
def nrrd():
    image = load_image(SAMPLE / "baseline_CT.nrrd")
    return image, load_lesions(SAMPLE / "baseline_lesions.seg.nrrd", reference_image=image)


def _masks(lesions, image):
    return {lesion.name: sitk.GetArrayFromImage(full_mask(lesion.mask, image)) for lesion in lesions}


def test_ct_series_reads_back_the_nrrd_ct(study, nrrd):
    image, _ = nrrd
    series = read_series(study.ct_folder)
    assert series.image.GetPixelIDTypeAsString() == "16-bit signed integer"
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(series.image), sitk.GetArrayViewFromImage(image))
    np.testing.assert_allclose(series.image.GetOrigin(), image.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(series.image.GetSpacing(), image.GetSpacing(), rtol=1e-12)
    assert series.image.GetDirection() == image.GetDirection()
    # slice order = position order; the rescale is applied (stored value + intercept = HU)
    positions = [float(ds.ImagePositionPatient[2]) for ds in series.datasets]
    assert positions == sorted(positions) and len(set(series.sop_instance_uids)) == image.GetSize()[2]
    raw = pydicom.dcmread(series.files[30]).pixel_array
    assert raw.min() >= 0  # stored HU + 1024: a reader ignoring the rescale would be off by 1024
    np.testing.assert_array_equal(raw + RESCALE_INTERCEPT, sitk.GetArrayViewFromImage(image)[30])


@pytest.mark.parametrize("source", ["seg_file", "seg_folder", "rtstruct"])
def test_dicom_lesions_equal_the_nrrd_lesions_voxel_for_voxel(study, nrrd, source):
    image, expected = nrrd
    path = {"seg_file": study.seg, "seg_folder": study.seg.parent, "rtstruct": study.rtstruct}[source]
    dicom_image = load_image(study.ct_folder)
    lesions = load_lesions(path, reference_image=dicom_image, image=study.ct_folder)
    assert [lesion.name for lesion in lesions] == [lesion.name for lesion in expected]
    assert not any(lesion.error or lesion.notes for lesion in lesions)
    got, want = _masks(lesions, dicom_image), _masks(expected, image)
    for name in want:  # RTSTRUCT contours are traced between voxel centres: no boundary voxel changes
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    if source != "rtstruct":  # an RTSTRUCT carries no anatomic region; the SEG does
        assert [lesion.site for lesion in lesions] == [lesion.site for lesion in expected]


def test_dicom_lesions_on_an_nrrd_image(study, nrrd):
    """With an image file there are no UIDs to match: the SEG is placed by geometry, the RTSTRUCT rasterised on
    the file's grid (read from its header)."""
    image, expected = nrrd
    for path in (study.seg, study.rtstruct):
        lesions = load_lesions(path, reference_image=image, image=SAMPLE / "baseline_CT.nrrd")
        assert _masks(lesions, image).keys() == _masks(expected, image).keys()
        for name, mask in _masks(lesions, image).items():
            np.testing.assert_array_equal(mask, _masks(expected, image)[name], err_msg=f"{path.name}: {name}")
    (lesion, *_) = load_lesions(study.rtstruct, image=SAMPLE / "baseline_CT.nrrd")  # grid from the header only
    assert lesion.voxel_count == expected[0].voxel_count


def test_single_slice_and_gapped_lesions_and_a_fractional_seg(study, tmp_path):
    from MIRVLib.dicom.sample_study import write_rtstruct
    from MIRVLib.dicom.seg_output import write_seg

    series = read_series(study.ct_folder)
    image, shape = series.image, sitk.GetArrayViewFromImage(series.image).shape
    single, gapped = np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)
    single[30, 100:105, 100:110] = 1
    gapped[10:12, 50:60, 50:60] = gapped[15:17, 50:60, 50:60] = 1  # SEG frames 12-14 are empty, so omitted
    lesions = []
    for name, voxels in (("single", single), ("gapped", gapped)):
        mask = sitk.GetImageFromArray(voxels)
        mask.CopyInformation(image)
        lesions.append(Lesion(name, mask, "liver"))
    seg = write_seg(series.datasets, lesions, tmp_path / "seg.dcm", image, seed="t")
    rtstruct = write_rtstruct(series.datasets, lesions, image, tmp_path / "rt.dcm", seed="t")
    for path in (seg, rtstruct):
        got = _masks(load_lesions(path, reference_image=image, image=study.ct_folder), image)
        np.testing.assert_array_equal(got["single"], single)
        np.testing.assert_array_equal(got["gapped"], gapped)
    # FRACTIONAL: a voxel is in the lesion when its probability is >= 0.5 (stored as 0..255)
    probability = np.zeros(shape, np.float32)
    probability[20, 80:90, 80:90], probability[20, 80:90, 90:100], probability[21, 80:90, 80:100] = 0.75, 0.25, 0.5
    description = hd.seg.SegmentDescription(
        segment_number=1, segment_label="fuzzy", algorithm_type="MANUAL",
        segmented_property_category=hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure"),
        segmented_property_type=hd.sr.CodedConcept("10200004", "SCT", "Liver"))
    fractional = hd.seg.Segmentation(
        source_images=[pydicom.dcmread(f) for f in series.files], pixel_array=probability,
        segmentation_type="FRACTIONAL", segment_descriptions=[description], series_instance_uid=hd.UID(),
        series_number=5, sop_instance_uid=hd.UID(), instance_number=1, manufacturer="test",
        manufacturer_model_name="test", software_versions="1", device_serial_number="1")
    fractional.save_as(tmp_path / "fractional.dcm")
    (lesion,) = load_lesions(tmp_path / "fractional.dcm", reference_image=image, image=study.ct_folder)
    assert (lesion.name, lesion.site, lesion.voxel_count) == ("fuzzy", "liver", 300)  # organ property type → site
    np.testing.assert_array_equal(_masks([lesion], image)["fuzzy"], (probability >= 0.5).astype(np.uint8))


def test_label_map_seg_gives_each_segment_its_voxels(study, tmp_path):
    """A LABELMAP SEG (its own SOP class; pixel value = segment number), written by highdicom, read back per segment."""
    if "LABELMAP" not in hd.seg.SegmentationTypeValues.__members__:
        pytest.skip(f"highdicom {hd.__version__} cannot write LABELMAP SEGs (0.22 is the newest on Python 3.9)")
    series = read_series(study.ct_folder)
    labels = np.zeros(sitk.GetArrayViewFromImage(series.image).shape, np.uint8)
    labels[10:12, 50:60, 50:60] = labels[15:17, 50:60, 50:60] = 1  # frames 12-14 hold no segment: omitted
    labels[30, 100:105, 100:110] = 2
    descriptions = [hd.seg.SegmentDescription(
        segment_number=number, segment_label=name, algorithm_type="MANUAL",
        segmented_property_category=hd.sr.CodedConcept("49755003", "SCT", "Morphologically Abnormal Structure"),
        segmented_property_type=hd.sr.CodedConcept("108369006", "SCT", "Neoplasm")) for number, name in ((1, "a"), (2, "b"))]
    hd.seg.Segmentation(
        source_images=[pydicom.dcmread(f) for f in series.files], pixel_array=labels, segmentation_type="LABELMAP",
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=5, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer="test", manufacturer_model_name="test", software_versions="1",
        device_serial_number="1").save_as(tmp_path / "labelmap.dcm")
    got = _masks(load_lesions(tmp_path / "labelmap.dcm", reference_image=series.image, image=study.ct_folder), series.image)
    np.testing.assert_array_equal(got["a"], labels == 1)
    np.testing.assert_array_equal(got["b"], labels == 2)


def test_mirv_extract_on_dicom_gives_the_nrrd_features(study, tmp_path):
    """The shipped MIRV-CT preset (1218 feature columns), all six lesions: identical to the last bit."""
    tables = {}
    for name, image, lesions in [("nrrd", SAMPLE / "baseline_CT.nrrd", SAMPLE / "baseline_lesions.seg.nrrd"),
                                 ("seg", study.ct_folder, study.seg.parent), ("rtstruct", study.ct_folder, study.rtstruct)]:
        out = tmp_path / f"{name}.csv"
        code = main(["extract", "--image", str(image), "--lesions", str(lesions), "--patient-id", "SAMPLE",
                     "--preset", "MIRV-CT", "--jobs", "1", "--out", str(out), "--no-progress"])
        assert code == 0
        tables[name] = pd.read_csv(out, float_precision="round_trip")
    assert (tables["nrrd"]["Status"] == "ok").all() and len(tables["nrrd"]) == 6
    features = list(tables["nrrd"].columns[5:])  # after PatientID, LesionID, SegmentID, Site, Status
    assert len(features) == 1218 and "original_shape_VoxelVolume" in features
    for name in ("seg", "rtstruct"):
        pd.testing.assert_frame_equal(tables[name][["LesionID", "Status"]], tables["nrrd"][["LesionID", "Status"]])
        np.testing.assert_array_equal(tables[name][features].to_numpy(), tables["nrrd"][features].to_numpy())
    assert tables["seg"]["Site"].tolist() == tables["nrrd"]["Site"].tolist()


def test_generation_is_deterministic(study, tmp_path):
    again = write_sample(tmp_path / "again")
    for first, second in [*zip(sorted(study.ct_folder.iterdir()), sorted(again.ct_folder.iterdir())),
                          (study.rtstruct, again.rtstruct), (study.seg, again.seg)]:
        assert first.read_bytes() == second.read_bytes(), first.name


# --- the rasteriser against analytic voxel counts --------------------------------------------------------------

class _Contour(dict):
    """A ContourSequence item stand-in: ``ContourData`` and ``ContourGeometricType``."""

    def __getattr__(self, key):
        return self[key]


def _circle(centre, radius, z, n=720):
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    points = np.column_stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles), np.full(n, z)])
    return _Contour(ContourData=points.ravel().tolist(), ContourGeometricType="CLOSED_PLANAR")


GRID = SourceGrid((40, 40, 5), (1.0, 1.0, 3.0), (-20.0, -20.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1), (0, 0, 0))


def _centre_distances(centre):
    x = GRID.origin[0] + np.arange(GRID.size[0])
    y = GRID.origin[1] + np.arange(GRID.size[1])
    return np.hypot(*np.meshgrid(x - centre[0], y - centre[1]))


def test_rasteriser_counts_the_voxel_centres_inside_a_circle_and_subtracts_holes():
    centre, outer, inner = (0.3, -0.2), 10.9, 5.55
    distance = _centre_distances(centre)
    for radius in (outer, inner):  # no voxel centre near either circle: the polygon's sagitta (1e-4 mm) cannot matter
        assert np.abs(distance - radius).min() > 1e-2
    # z = 6.0 + 1.4: within half a slice (1.5 mm) of slice 2 at z = 6 mm
    voxels, notes = rasterise([_circle(centre, outer, 7.4), _circle(centre, inner, 7.4)], GRID, "ring")
    assert not notes and voxels[[0, 1, 3, 4]].sum() == 0
    np.testing.assert_array_equal(voxels[2], (distance < outer) & (distance >= inner))
    assert voxels[2].sum() == np.count_nonzero((distance < outer) & (distance > inner))


def test_rasteriser_refuses_contours_off_the_slices_and_empty_rois():
    with pytest.raises(DicomError, match="ROI 'r': a contour lies outside the image"):
        rasterise([_circle((0, 0), 3, 30.0)], GRID, "r")
    tilted = _circle((0, 0), 3, 6.0)
    points = np.array(tilted["ContourData"]).reshape(-1, 3)
    points[:, 2] += points[:, 0] * 0.6  # ±1.8 mm across the contour: not on one slice
    tilted["ContourData"] = points.ravel().tolist()
    with pytest.raises(DicomError, match="ROI 'r': a contour is not on one image slice"):
        rasterise([tilted], GRID, "r")
    with pytest.raises(DicomError, match="ROI 'r' has no closed contour"):
        rasterise([_Contour(ContourData=[0, 0, 6.0], ContourGeometricType="POINT")], GRID, "r")


# --- bad DICOM: clear errors naming the file ---------------------------------------------------------------

def _copy_ct(study, folder):
    shutil.copytree(study.ct_folder, folder)
    return folder


def test_seg_of_another_series_is_refused_naming_both(study, tmp_path):
    seg = pydicom.dcmread(study.seg)
    seg.ReferencedSeriesSequence[0].SeriesInstanceUID = "1.2.3.4.5"
    other = tmp_path / "other_seg.dcm"
    seg.save_as(other)
    with pytest.raises(DicomError, match=rf"{other} references series 1\.2\.3\.4\.5, but the image {study.ct_folder} is "
                                         "series .*does not belong to this image"):
        load_lesions(other, image=study.ct_folder)
    rtstruct = pydicom.dcmread(study.rtstruct)  # no referenced series: the frame of reference decides
    frame = rtstruct.ReferencedFrameOfReferenceSequence[0]
    del frame.RTReferencedStudySequence
    frame.FrameOfReferenceUID = "1.2.3.4.6"
    rtstruct.save_as(other)
    with pytest.raises(DicomError, match=rf"{other} is in frame of reference 1\.2\.3\.4\.6, but the image "
                                         rf"{study.ct_folder} is in .*does not belong to this image"):
        load_lesions(other, image=study.ct_folder)


def test_rtstruct_with_an_empty_roi_fails_that_lesion_only(study, tmp_path, capsys):
    from pyradiomics_data import light_preset

    rtstruct = pydicom.dcmread(study.rtstruct)
    del rtstruct.ROIContourSequence[3].ContourSequence  # "Vertebral met"
    path = tmp_path / "rtstruct.dcm"
    rtstruct.save_as(path)
    out = tmp_path / "lesions.csv"
    code = main(["extract", "--image", str(study.ct_folder), "--lesions", str(path), "--preset",
                 str(light_preset(tmp_path)), "--jobs", "1", "--out", str(out), "--no-progress"])
    assert code == 0
    table = pd.read_csv(out).set_index("LesionID")
    assert table.loc["Vertebral met", "Status"] == (f"error: {path}: ROI 'Vertebral met' has no closed contour "
                                                    "(empty ROI); it cannot be rasterised")
    assert (table.drop(index="Vertebral met")["Status"] == "ok").all()


def test_rtstruct_needs_its_image(study):
    with pytest.raises(DicomError, match=f"{study.rtstruct}: an RTSTRUCT holds contours, not voxels"):
        load_lesions(study.rtstruct)


def test_multi_frame_ct_is_refused_naming_the_file(study, tmp_path, capsys):
    folder = tmp_path / "enhanced"
    folder.mkdir()
    ds = pydicom.dcmread(study.ct_folder / "CT_0001.dcm")
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    ds.save_as(folder / "ct.dcm")
    with pytest.raises(DicomError, match=f"{folder / 'ct.dcm'}: a multi-frame .enhanced. image with 2 frame.s."):
        read_series(folder)
    code = main(["extract", "--image", str(folder), "--lesions", str(study.seg), "--out", str(tmp_path / "x.csv"),
                 "--no-progress"])
    assert code == 2 and f"{folder / 'ct.dcm'}: a multi-frame" in capsys.readouterr().err


def test_mixed_series_folder_lists_the_series(study, tmp_path):
    folder = _copy_ct(study, tmp_path / "mixed")
    ds = pydicom.dcmread(folder / "CT_0005.dcm")
    ds.SeriesInstanceUID = "1.2.3.999"
    ds.save_as(folder / "CT_0005.dcm")
    uid = pydicom.dcmread(folder / "CT_0001.dcm").SeriesInstanceUID
    with pytest.raises(DicomError, match=rf"{folder}: holds 2 image series \(SeriesInstanceUID: 1\.2\.3\.999 \(1 files\); "
                                         rf"{uid} \(60 files\)\)"):
        read_series(folder)


def test_missing_and_uneven_slices_and_non_dicom_are_refused(study, tmp_path):
    folder = _copy_ct(study, tmp_path / "gap")
    (folder / "CT_0011.dcm").unlink()
    with pytest.raises(DicomError, match=rf"{folder}: 1 slice\(s\) missing between CT_0010.dcm and CT_0012.dcm "
                                         r"\(gap 10.000 mm, slice spacing 5.000 mm\)"):
        read_series(folder)
    folder = _copy_ct(study, tmp_path / "uneven")
    ds = pydicom.dcmread(folder / "CT_0020.dcm")
    ds.ImagePositionPatient[2] = float(ds.ImagePositionPatient[2]) + 1.5
    ds.save_as(folder / "CT_0020.dcm")
    with pytest.raises(DicomError, match=rf"{folder}: non-uniform slice spacing: 6.500 mm between CT_0019.dcm and "
                                         "CT_0020.dcm, 5.000 mm elsewhere"):
        read_series(folder)
    text = tmp_path / "text"
    text.mkdir()
    (text / "notes.txt").write_text("not DICOM")
    with pytest.raises(FileNotFoundError, match=f"no DICOM series found in folder {text} .no DICOM files."):
        read_series(text)


def test_manifest_accepts_dicom_folders(study, tmp_path):
    from MIRVLib.batch.manifest import read_manifest

    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"PatientID,Image,Lesions\nSAMPLE,{study.ct_folder},{study.seg.parent}\n")
    (row,) = read_manifest(manifest)
    assert row.image == study.ct_folder and row.lesions == study.seg.parent


def test_one_study_folder_as_image_and_lesions(study, tmp_path, nrrd):
    """CT slices and the SEG in one folder: the series reader skips the SEG, the lesion reader finds it."""
    image, expected = nrrd
    folder = _copy_ct(study, tmp_path / "study")
    shutil.copy(study.seg, folder / "zz_seg.dcm")
    series = read_series(folder)
    assert len(series.files) == image.GetSize()[2] and folder / "zz_seg.dcm" not in series.files
    lesions = load_lesions(folder, reference_image=series.image, image=folder)
    assert [lesion.voxel_count for lesion in lesions] == [lesion.voxel_count for lesion in expected]
    shutil.copy(study.rtstruct, folder / "zz_rt.dcm")
    with pytest.raises(DicomError, match=rf"{folder}: holds 2 segmentation objects \(zz_rt.dcm, zz_seg.dcm\)"):
        load_lesions(folder, image=folder)


def test_without_the_dicom_extra_the_cli_says_how_to_install_it(study, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pydicom", None)  # `import pydicom` now fails as if not installed
    code = main(["extract", "--image", str(SAMPLE / "baseline_CT.nrrd"), "--lesions", str(study.seg),
                 "--out", str(tmp_path / "x.csv"), "--no-progress"])
    assert code == 2
    assert "reading and writing DICOM needs pydicom: pip install 'mirv[dicom]'" in capsys.readouterr().err
