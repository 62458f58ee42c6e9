"""Reading lesions: Slicer .seg.nrrd (names, colours, overlapping layers, terminology site), labelmaps with a
names CSV, folders of masks, connected-component splitting, sites CSV, DICOM series, compact pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from pyradiomics_data import ball_mask, synthetic_ct, write_labelmap, write_seg_nrrd

from MIRVLib.lesions import (
    Lesion,
    SourceGrid,
    array_bounds,
    conform_mask,
    full_mask,
    load_image,
    load_lesions,
    mask_offset,
)


@pytest.fixture(scope="module")
def ct() -> sitk.Image:
    return synthetic_ct()


def _array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def _whole(mask: sitk.Image, ct: sitk.Image) -> np.ndarray:
    """A conformed lesion mask (its box on the CT grid) as a whole-CT array."""
    return _array(full_mask(mask, ct))


def _assert_is_box_of(mask: sitk.Image, ct: sitk.Image, expected: sitk.Image) -> None:
    """``mask`` is exactly the bounding box of ``expected``'s voxels, cut out of the CT grid like a crop."""
    low, high = array_bounds(_array(expected))
    index, size = list(reversed(low)), [h - lo + 1 for lo, h in zip(reversed(low), reversed(high))]
    crop = sitk.RegionOfInterest(ct, size, index)
    assert mask.GetSize() == crop.GetSize() and mask_offset(mask, ct) == index
    assert (mask.GetOrigin(), mask.GetSpacing(), mask.GetDirection()) == (crop.GetOrigin(), ct.GetSpacing(), ct.GetDirection())
    assert mask.GetPixelID() == sitk.sitkUInt8
    np.testing.assert_array_equal(_whole(mask, ct), (_array(expected) != 0).astype(np.uint8))


def test_seg_nrrd_with_overlapping_segments_names_colours_and_sites(ct, tmp_path):
    masks = {"liver met": ball_mask(ct, (30, 32, 10), 6), "lung met": ball_mask(ct, (35, 32, 10), 6),
             "node": ball_mask(ct, (15, 45, 6), 4)}
    path = write_seg_nrrd(masks, tmp_path / "patient.seg.nrrd", sites={"liver met": "Liver"})
    lesions = load_lesions(path, reference_image=ct)
    assert [lesion.name for lesion in lesions] == list(masks)
    assert [lesion.segment_id for lesion in lesions] == ["Segment_1", "Segment_2", "Segment_3"]
    assert lesions[0].site == "Liver" and lesions[1].site is None
    assert lesions[0].color == pytest.approx((0.9, 0.2, 0.2))
    for lesion, mask in zip(lesions, masks.values()):  # overlapping segments keep their full masks
        _assert_is_box_of(lesion.mask, ct, mask)
        assert lesion.notes == []


def test_labelmap_with_names_csv_and_sites_csv(ct, tmp_path):
    masks = {"a": ball_mask(ct, (20, 20, 10), 5), "b": ball_mask(ct, (44, 44, 10), 5)}
    write_labelmap(masks, tmp_path / "labels.nii.gz")
    pd.DataFrame({"Label": [1, 2, 7], "LesionID": ["L01", "L02", "unused"]}).to_csv(tmp_path / "names.csv", index=False)
    pd.DataFrame({"LesionID": ["L02"], "Site": ["lung"]}).to_csv(tmp_path / "sites.csv", index=False)
    lesions = load_lesions(tmp_path / "labels.nii.gz", ct, names_csv=tmp_path / "names.csv", sites_csv=tmp_path / "sites.csv")
    assert [(lesion.name, lesion.segment_id, lesion.site) for lesion in lesions] == [("L01", "1", None), ("L02", "2", "lung")]
    _assert_is_box_of(lesions[1].mask, ct, masks["b"])


def test_folder_of_binary_masks(ct, tmp_path):
    folder = tmp_path / "masks"
    folder.mkdir()
    sitk.WriteImage(ball_mask(ct, (20, 20, 10), 5) * 255, str(folder / "lesion_B.nrrd"))  # any nonzero value
    sitk.WriteImage(ball_mask(ct, (44, 44, 10), 5), str(folder / "lesion_A.nii.gz"))
    (folder / "notes.txt").write_text("not a mask")
    lesions = load_lesions(folder, ct)
    assert [lesion.name for lesion in lesions] == ["lesion_A", "lesion_B"]
    _assert_is_box_of(lesions[1].mask, ct, ball_mask(ct, (20, 20, 10), 5))  # binary again


def test_split_components_largest_first_and_small_ones_dropped(ct, tmp_path):
    blobs = _array(ball_mask(ct, (20, 20, 10), 6)) | _array(ball_mask(ct, (45, 45, 10), 4))
    blobs[2, 5, 5] = 1  # a 1-voxel speck
    mask = sitk.GetImageFromArray(blobs)
    mask.CopyInformation(ct)
    sitk.WriteImage(mask, str(tmp_path / "mets.nrrd"))
    lesions = load_lesions(tmp_path / "mets.nrrd", ct, split_components=True, min_voxels=5)
    assert [lesion.name for lesion in lesions] == ["1-1", "1-2"]
    _assert_is_box_of(lesions[0].mask, ct, ball_mask(ct, (20, 20, 10), 6))
    _assert_is_box_of(lesions[1].mask, ct, ball_mask(ct, (45, 45, 10), 4))
    assert len(load_lesions(tmp_path / "mets.nrrd", ct, split_components=True, min_voxels=1)) == 3


def test_mask_in_wrong_orientation_becomes_a_lesion_error_naming_the_file(ct, tmp_path):
    mask = ball_mask(ct, (30, 32, 10), 6)
    mask.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    sitk.WriteImage(mask, str(tmp_path / "flipped.nrrd"))
    (lesion,) = load_lesions(tmp_path / "flipped.nrrd", ct)
    assert lesion.error.startswith(f"{tmp_path / 'flipped.nrrd'}: lesion '1': mask orientation")


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="lesion segmentation not found: .*nope.seg.nrrd"):
        load_lesions(tmp_path / "nope.seg.nrrd")
    with pytest.raises(FileNotFoundError, match="image not found: .*ct.nrrd"):
        load_image(tmp_path / "ct.nrrd")
    with pytest.raises(FileNotFoundError, match="no DICOM series found"):
        load_image(tmp_path)


def test_dicom_series_folder_is_read(ct, tmp_path):
    folder = tmp_path / "dicom"
    folder.mkdir()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    series = "1.2.826.0.1.3680043.2.1125.1.1"
    for k in range(ct.GetDepth()):
        plane = ct[:, :, k]
        position = ct.TransformIndexToPhysicalPoint((0, 0, k))
        for tag, value in {
            "0008|0060": "CT", "0020|000e": series, "0020|000d": series + ".0", "0008|0018": f"{series}.{k + 1}",
            "0020|0013": str(k + 1), "0020|0032": "\\".join(f"{v:.6f}" for v in position),
            "0020|0037": "1\\0\\0\\0\\1\\0", "0018|0050": str(ct.GetSpacing()[2]),
        }.items():
            plane.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"{k:03d}.dcm"))
        writer.Execute(plane)
    image = load_image(folder)
    np.testing.assert_array_equal(_array(image), _array(ct))
    assert image.GetSpacing() == pytest.approx(ct.GetSpacing())
    assert image.GetOrigin() == pytest.approx(ct.GetOrigin())


def test_lesions_pickle_compactly_and_exactly(ct, tmp_path):
    lesion = Lesion("x", ball_mask(ct, (30, 32, 10), 6), "lung", (1.0, 0.0, 0.0), "Segment_1")
    blob = pickle.dumps(lesion)
    assert len(blob) < sitk.GetArrayViewFromImage(lesion.mask).nbytes / 5
    back = pickle.loads(blob)
    np.testing.assert_array_equal(_array(back.mask), _array(lesion.mask))
    assert (back.mask.GetOrigin(), back.mask.GetSpacing(), back.name, back.site) == (ct.GetOrigin(), ct.GetSpacing(), "x", "lung")
    empty = pickle.loads(pickle.dumps(Lesion("e", sitk.Image(ct.GetSize(), sitk.sitkUInt8))))
    assert empty.voxel_count == 0 and empty.mask.GetSize() == ct.GetSize()
    sitk.WriteImage(lesion.mask, str(tmp_path / "mask.nrrd"))
    (boxed,) = load_lesions(tmp_path / "mask.nrrd", ct)  # a conformed lesion travels as its box
    assert len(pickle.dumps(boxed)) < 5000
    _assert_is_box_of(pickle.loads(pickle.dumps(boxed)).mask, ct, lesion.mask)


def test_conform_mask_cuts_the_lesion_box_out_of_an_identical_grid(ct):
    mask = ball_mask(ct, (30, 32, 10), 6)
    conformed, note = conform_mask(mask, ct, "x")
    assert note is None
    _assert_is_box_of(conformed, ct, mask)
    again, note = conform_mask(conformed, ct, "x")  # idempotent: a box is part of the image grid
    assert note is None
    _assert_is_box_of(again, ct, mask)
    empty, _ = conform_mask(sitk.Image(ct.GetSize(), sitk.sitkUInt8), ct, "e")
    assert empty.GetSize() == (1, 1, 1) and not _whole(empty, ct).any()


def test_seg_nrrd_cropped_to_its_segments_lands_on_the_image_grid(ct, tmp_path):
    """Slicer saves segmentations cropped to the segments' extent: same grid, other origin and size."""
    import slicerio

    mask = ball_mask(ct, (30, 32, 10), 6)
    full = np.transpose(sitk.GetArrayFromImage(mask), (2, 1, 0))  # i, j, k
    low = (20, 22, 5)
    matrix = np.eye(4)
    matrix[:3, :3] = np.diag(ct.GetSpacing())
    matrix[:3, 3] = ct.TransformIndexToPhysicalPoint(low)
    segmentation = slicerio.create_segmentation((25, 25, 12), matrix)
    slicerio.add_segment(segmentation, full[20:45, 22:47, 5:17] > 0, {"id": "Segment_1", "name": "met"})
    slicerio.write_segmentation(str(tmp_path / "cropped.seg.nrrd"), segmentation)
    (lesion,) = load_lesions(tmp_path / "cropped.seg.nrrd", reference_image=ct)
    assert lesion.error is None
    _assert_is_box_of(lesion.mask, ct, mask)
    assert lesion.notes == []  # a cropped segmentation is normal, not worth a warning


def test_array_bounds_in_any_memory_order():
    """Bounds equal np.nonzero's extremes, for C-ordered arrays and for (i, j, k) views of (k, j, i) voxels."""
    rng = np.random.default_rng(3)
    volume = np.zeros((9, 16, 24), np.uint8)
    volume[2:5, 3:11, 7:9] = rng.integers(0, 2, (3, 8, 2))
    volume[3, 4, 8] = 1
    for array in (volume, volume.T, volume.astype(bool).T):
        hits = np.nonzero(array)
        assert array_bounds(array) == ([int(h.min()) for h in hits], [int(h.max()) for h in hits])
    assert array_bounds(np.zeros((4, 4, 4), bool).T) is None


def test_a_mask_on_another_grid_is_resampled_as_its_whole_source(tmp_path):
    """A 5-mm labelmap on a 2.5-mm CT: nearest-neighbour lookups land on exact half voxels, where the result
    depends on the grid's origin. Readers keep only boxes, yet every format must give what resampling the
    whole source mask gives (PyRadiomics' correctMask does the same)."""
    origin, in_plane = (-147.1, -33.0, 2.7), 0.9765625
    ct = sitk.Image((64, 64, 40), sitk.sitkInt16)
    ct.SetSpacing((in_plane, in_plane, 2.5))
    ct.SetOrigin(origin)
    voxels = np.zeros((20, 64, 64), np.uint8)
    voxels[6:12, 20:40, 20:40] = 1
    labelmap = sitk.GetImageFromArray(voxels)
    labelmap.SetSpacing((in_plane, in_plane, 5.0))
    labelmap.SetOrigin(origin)
    expected = sitk.Resample(labelmap, ct, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    (tmp_path / "folder").mkdir()
    sitk.WriteImage(labelmap, str(tmp_path / "labels.nrrd"))
    sitk.WriteImage(labelmap, str(tmp_path / "folder" / "met.nrrd"))
    for source in ("labels.nrrd", "folder", write_seg_nrrd({"met": labelmap}, tmp_path / "met.seg.nrrd").name):
        (lesion,) = load_lesions(tmp_path / source, ct)
        assert lesion.source is None and lesion.notes[0].endswith("resampled with nearest neighbour"), source
        _assert_is_box_of(lesion.mask, ct, expected)


def test_a_grid_equal_within_rounding_is_the_same_grid(tmp_path):
    """Slice spacing 1 mm vs 1.00005 mm over 400 slices: the same grid (no resampling, no warning), however far
    from the first slice the lesion lies."""
    ct = sitk.Image((32, 32, 400), sitk.sitkInt16)
    ct.SetSpacing((0.7, 0.7, 1.0))
    ct.SetOrigin((-10.0, 5.0, -300.0))
    voxels = np.zeros((400, 32, 32), np.uint8)
    voxels[300:310, 10:20, 10:20] = 1
    labelmap = sitk.GetImageFromArray(voxels)
    labelmap.SetSpacing((0.7, 0.7, 1.00005))
    labelmap.SetOrigin(ct.GetOrigin())
    sitk.WriteImage(labelmap, str(tmp_path / "labels.nrrd"))
    (lesion,) = load_lesions(tmp_path / "labels.nrrd", ct)
    assert lesion.notes == []
    np.testing.assert_array_equal(_whole(lesion.mask, ct), voxels)


def test_full_mask_refuses_a_mask_off_the_image_grid(ct):
    box, _ = conform_mask(ball_mask(ct, (30, 32, 10), 6), ct, "x")
    shifted = sitk.Image(box)
    shifted.SetOrigin([o + 0.3 for o in box.GetOrigin()])
    with pytest.raises(ValueError, match="not a part of the image grid"):
        full_mask(shifted, ct)


def test_source_grid_puts_any_nonzero_box_back_as_ones(ct):
    box = sitk.GetImageFromArray(np.full((2, 3, 4), 0.5))  # not UInt8, not 0/1
    whole = _array(SourceGrid.of(ct, (5, 6, 7)).whole(box))
    expected = np.zeros(whole.shape, np.uint8)
    expected[7:9, 6:9, 5:9] = 1
    np.testing.assert_array_equal(whole, expected)
