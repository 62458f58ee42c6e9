"""What a labelmap may be, and image voxels MIRV cannot use, refused with a message that names the file or
lesion instead of being read wrongly without a word (issue 14 §1). Inputs are written to disk and read back
through `mirv extract`, the path users take."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from pyradiomics_data import light_preset, synthetic_ct

from MIRVLib.cli import main
from MIRVLib.lesions import MAX_LABELS, load_lesions


@pytest.fixture(scope="module")
def ct() -> sitk.Image:
    return synthetic_ct()


def _labelmap(ct: sitk.Image, values: dict[float, tuple[slice, slice, slice]], dtype=np.float32) -> sitk.Image:
    array = np.zeros(tuple(reversed(ct.GetSize())), dtype)
    for value, box in values.items():
        array[box] = value
    labelmap = sitk.GetImageFromArray(array)
    labelmap.CopyInformation(ct)
    return labelmap


BOX_A = (slice(5, 9), slice(10, 20), slice(10, 20))
BOX_B = (slice(10, 14), slice(30, 40), slice(30, 40))


def test_float_labelmap_with_exact_integers_is_read_as_labels(ct, tmp_path):
    path = tmp_path / "labels.nrrd"
    sitk.WriteImage(_labelmap(ct, {1.0: BOX_A, 2.0: BOX_B}), str(path))
    lesions = load_lesions(path, reference_image=ct)
    assert [(lesion.name, lesion.voxel_count) for lesion in lesions] == [("1", 400), ("2", 400)]


def test_float_labelmap_with_fractions_is_refused_naming_the_file(ct, tmp_path):
    path = tmp_path / "fractions.nrrd"
    sitk.WriteImage(_labelmap(ct, {0.5: BOX_A, 1.0: BOX_B}), str(path))
    with pytest.raises(ValueError, match=rf"{path}: not a labelmap: 1 value\(s\) are not whole numbers \(0.5\)"):
        load_lesions(path)


def test_ct_given_as_lesions_is_refused_by_cli_with_exit_2(ct, tmp_path, capsys):
    image = tmp_path / "ct.nrrd"
    sitk.WriteImage(ct, str(image))
    out = tmp_path / "out.csv"
    code = main(["extract", "--image", str(image), "--lesions", str(image), "--out", str(out),
                 "--preset", str(light_preset(tmp_path)), "--no-progress"])
    assert code == 2
    assert f"{image}: not a labelmap: negative values" in capsys.readouterr().err
    assert not out.exists()


def test_too_many_labels_are_refused(ct, tmp_path):
    array = np.arange(np.prod(ct.GetSize()), dtype=np.int32).reshape(tuple(reversed(ct.GetSize()))) % (MAX_LABELS + 2)
    labelmap = sitk.GetImageFromArray(array)
    labelmap.CopyInformation(ct)
    path = tmp_path / "many.nrrd"
    sitk.WriteImage(labelmap, str(path))
    with pytest.raises(ValueError, match=f"{MAX_LABELS + 1} distinct labels"):
        load_lesions(path)


def test_fractional_mask_in_a_folder_is_refused_naming_the_mask(ct, tmp_path):
    folder = tmp_path / "masks"
    folder.mkdir()
    sitk.WriteImage(_labelmap(ct, {1.0: BOX_A}), str(folder / "good.nrrd"))
    sitk.WriteImage(_labelmap(ct, {0.25: BOX_B}), str(folder / "soft.nrrd"))
    with pytest.raises(ValueError, match=r"soft.nrrd: not a labelmap: 1 value\(s\) are not whole numbers \(0.25\)"):
        load_lesions(folder)


def test_nan_and_inf_inside_a_lesion_fail_that_lesion_with_a_message(ct, tmp_path):
    image = sitk.Cast(ct, sitk.sitkFloat32)
    array = sitk.GetArrayFromImage(image)
    array[6, 12, 12], array[7, 15, 15] = np.nan, np.inf  # inside lesion 1 (BOX_A)
    array[0, 0, 0] = np.nan  # outside every lesion: harmless
    bad = sitk.GetImageFromArray(array)
    bad.CopyInformation(ct)
    lesions = load_lesions(_write(_labelmap(ct, {1: BOX_A, 2: BOX_B}, np.uint8), tmp_path / "l.nrrd"),
                           reference_image=bad)
    assert lesions[0].error.endswith("lesion '1': 2 image voxel(s) inside the lesion are NaN or infinite; "
                                     "features cannot be computed from them")
    assert lesions[1].error is None


def test_nan_inside_and_next_to_lesions_reach_the_table_status(ct, tmp_path, capsys):
    """NaN voxels in lesion 1, and the B-spline resampling carries NaN from them into lesion 2's crop: both
    rows say so (no "arange: cannot compute length"), and nothing computed is exit code 1."""
    array = sitk.GetArrayFromImage(sitk.Cast(ct, sitk.sitkFloat32))
    array[BOX_A] = np.nan
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(ct)
    out = tmp_path / "out.csv"
    code = main(["extract", "--image", _write(image, tmp_path / "ct.nrrd"), "--lesions",
                 _write(_labelmap(ct, {1: BOX_A, 2: BOX_B}, np.uint8), tmp_path / "l.nrrd"),
                 "--out", str(out), "--preset", str(light_preset(tmp_path)), "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert "lesion '1': error: " in err
    assert "lesion '1': 400 image voxel(s) inside the lesion are NaN or infinite" in err
    assert ("lesion '2': error: NaN or infinite image voxels next to the lesion reach into it when the image is "
            "resampled") in err
    assert "arange" not in err


@pytest.mark.parametrize("kind", ["4-D", "vector"])
def test_4d_and_vector_images_are_clear_errors(ct, tmp_path, capsys, kind):
    if kind == "4-D":
        image = sitk.JoinSeries([ct, ct])
        expected = "a 4-D image (size [64, 64, 20, 2]); MIRV reads 3-D images"
    else:
        image = sitk.Compose([ct, ct, ct])
        expected = "the image has 3 components per voxel; expected a scalar CT"
    path = _write(image, tmp_path / "odd.nrrd")
    labels = _write(_labelmap(ct, {1: BOX_A}, np.uint8), tmp_path / "l.nrrd")
    code = main(["extract", "--image", str(path), "--lesions", str(labels), "--out", str(tmp_path / "o.csv"),
                 "--preset", str(light_preset(tmp_path)), "--no-progress"])
    assert code == 2
    assert f"{path}: {expected}" in capsys.readouterr().err


def _write(image: sitk.Image, path) -> str:
    sitk.WriteImage(image, str(path))
    return str(path)
