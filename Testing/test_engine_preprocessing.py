"""MIRVLib.engine.preprocessing against PyRadiomics' ``imageoperations``, computed in the test.

Images and masks must be PyRadiomics' bit for bit (voxels, pixel type, geometry), bounding boxes equal, and
every input PyRadiomics refuses must be refused (with a clear ``ValueError``). Inputs: the sdist's images
cut around their label (geometry kept, so the crops are real images), the seeded random cases and
synthetic images for each setting and edge case.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from engine_cases import SDIST_CASES, random_cases, sdist_case

from MIRVLib.engine import preprocessing

logging.getLogger("radiomics").setLevel(logging.CRITICAL)


def _io():
    from radiomics import imageoperations

    return imageoperations


def _assert_same_image(ours: sitk.Image, theirs: sitk.Image, context: str = "") -> None:
    types = f"{ours.GetPixelIDTypeAsString()} vs {theirs.GetPixelIDTypeAsString()}"
    assert ours.GetPixelID() == theirs.GetPixelID(), f"{context}: {types}"
    assert ours.GetSize() == theirs.GetSize(), context
    assert ours.GetOrigin() == theirs.GetOrigin(), context
    assert ours.GetSpacing() == theirs.GetSpacing(), context
    assert ours.GetDirection() == theirs.GetDirection(), context
    assert np.array_equal(sitk.GetArrayViewFromImage(ours), sitk.GetArrayViewFromImage(theirs), equal_nan=True), context


def _outcome(function, *args, **kwargs):
    """``(True, result)`` or ``(False, exception)``."""
    try:
        return True, function(*args, **kwargs)
    except Exception as error:  # PyRadiomics raises ValueError, RuntimeError or AssertionError
        return False, error


def _both(ours_function, theirs_function, *args, **kwargs):
    """Run both; assert they succeed or refuse together; return the two results (None, None when refused)."""
    ok_theirs, theirs = _outcome(theirs_function, *args, **kwargs)
    ok_ours, ours = _outcome(ours_function, *args, **kwargs)
    assert ok_ours == ok_theirs, f"PyRadiomics {'accepts' if ok_theirs else f'refuses ({theirs})'}, ours {ours}"
    if not ok_ours:
        assert isinstance(ours, ValueError) and str(ours), repr(ours)
        return None, None
    return ours, theirs


@contextlib.contextmanager
def _global_tolerance(tolerance):
    """SimpleITK's global geometry tolerances as PyRadiomics' extractor sets them for ``geometryTolerance``."""
    coordinate = sitk.ProcessObject.GetGlobalDefaultCoordinateTolerance()
    direction = sitk.ProcessObject.GetGlobalDefaultDirectionTolerance()
    if tolerance is not None:
        sitk.ProcessObject.SetGlobalDefaultCoordinateTolerance(tolerance)
        sitk.ProcessObject.SetGlobalDefaultDirectionTolerance(tolerance)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultCoordinateTolerance(coordinate)
        sitk.ProcessObject.SetGlobalDefaultDirectionTolerance(direction)


def _check_mask_both(image: sitk.Image, mask: sitk.Image, settings: dict[str, Any], context: str = ""):
    with _global_tolerance(settings.get("geometryTolerance")):
        ok_theirs, theirs = _outcome(_io().checkMask, image, mask, **settings)
    ok_ours, ours = _outcome(preprocessing.check_mask, image, mask, **settings)
    assert ok_ours == ok_theirs, f"{context} {settings}: PyRadiomics {theirs!r}, ours {ours!r}"
    if not ok_ours:
        assert isinstance(ours, ValueError) and str(ours)
        return None
    (box, corrected), (their_box, their_corrected) = ours, theirs
    assert box.tolist() == their_box.tolist(), context
    assert (corrected is None) == (their_corrected is None), context
    if corrected is not None:
        _assert_same_image(corrected, their_corrected, f"{context} corrected mask")
    return ours


@functools.cache
def _lesion_region(name: str, margin: int = 12) -> tuple[sitk.Image, sitk.Image]:
    """The sdist image and UInt32 mask cut around the label with ``margin`` voxels (geometry kept)."""
    image, mask = sdist_case(name)
    mask = sitk.Cast(mask, sitk.sitkUInt32)
    voxels = sitk.GetArrayViewFromImage(mask)
    nonzero = np.nonzero(voxels)
    low = [max(int(axis.min()) - margin, 0) for axis in nonzero][::-1]
    high = [min(int(axis.max()) + margin, n - 1) for axis, n in zip(nonzero, voxels.shape)][::-1]
    size = [h - lo + 1 for lo, h in zip(low, high)]
    return sitk.RegionOfInterest(image, size, low), sitk.RegionOfInterest(mask, size, low)


def _synthetic(shape=(9, 14, 13), spacing=(0.8, 0.8, 2.5), seed=0, dtype=np.int16):
    rng = np.random.default_rng(seed)
    values = rng.normal(30, 200, size=shape)
    array = values.astype(dtype) if np.dtype(dtype).kind == "f" else np.round(values).astype(dtype)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing[: len(shape)])
    image.SetOrigin(tuple(10.0 - 7.3 * i for i in range(len(shape))))
    mask_array = np.zeros(shape, dtype=np.uint32)
    mask_array[tuple(slice(2, n - 2) for n in shape)] = 1
    mask_array[tuple(slice(3, 5) for _ in shape)] = 2
    mask = sitk.GetImageFromArray(mask_array)
    mask.CopyInformation(image)
    return image, mask


# ---------------------------------------------------------------- getMask
@pytest.mark.parametrize("case", SDIST_CASES)
def test_get_mask_sdist(case):
    _, mask = sdist_case(case)
    ours, theirs = _both(preprocessing.get_mask, _io().getMask, mask)
    _assert_same_image(ours, theirs, case)
    _, region = _lesion_region(case)
    _both(preprocessing.get_mask, _io().getMask, region, label=7)  # absent: both refuse


def test_get_mask_labels_types_and_channels():
    _, mask = _synthetic()
    for label in (1, 2, 3, 0, 1.0):
        _both(preprocessing.get_mask, _io().getMask, mask, label=label)
    float_mask = sitk.Cast(mask, sitk.sitkFloat64) * 1.7  # values 1.7, 3.4: cast truncates to 1, 3
    ours, theirs = _both(preprocessing.get_mask, _io().getMask, float_mask, label=3)
    _assert_same_image(ours, theirs)
    empty = sitk.Image(mask.GetSize(), sitk.sitkUInt8)
    _both(preprocessing.get_mask, _io().getMask, empty)
    with pytest.raises(ValueError, match="nothing is segmented"):
        preprocessing.get_mask(empty)
    with pytest.raises(ValueError, match=r"Label \(5\) not present in mask. Choose from \[1 2\]"):
        preprocessing.get_mask(mask, label=5)

    channels = [sitk.Cast(mask == value, sitk.sitkUInt8) * value for value in (1, 2)]
    channels.append(sitk.Image(mask.GetSize(), sitk.sitkUInt8))
    for channel in channels[1:]:
        channel.CopyInformation(mask)
    vector = sitk.Compose(channels)
    for settings in ({}, {"label_channel": 1, "label": 2}, {"label_channel": 1}, {"label_channel": 2}):
        ours, theirs = _both(preprocessing.get_mask, _io().getMask, vector, **settings)
        if ours is not None:
            _assert_same_image(ours, theirs, str(settings))
    _both(preprocessing.get_mask, _io().getMask, vector, label_channel=3)  # out of range: both refuse
    with pytest.raises(ValueError, match="holds 3 channel"):
        preprocessing.get_mask(vector, label_channel=3)


# ---------------------------------------------------------------- checkMask
@pytest.mark.parametrize("case", SDIST_CASES)
def test_check_mask_sdist(case):
    image, mask = _lesion_region(case)
    for settings in ({}, {"minimumROIDimensions": 3}, {"minimumROISize": 50}, {"minimumROISize": 10**7}, {"label": 2}):
        _check_mask_both(image, mask, settings, case)
    full_image, full_mask = sdist_case(case)
    _check_mask_both(full_image, sitk.Cast(full_mask, sitk.sitkUInt32), {}, f"{case} whole")


def test_check_mask_random_cases():
    for seed in (0, 1, 2):
        for name, image, mask, settings in random_cases(seed):
            for extra in ({}, {"minimumROIDimensions": 1}, {"minimumROIDimensions": 3}, {"minimumROISize": 3}):
                _check_mask_both(image, mask, {**settings, **extra}, f"{seed} {name}")


def test_check_mask_dimensions_and_sizes():
    image, _ = _synthetic((8, 9, 10), (1.0, 1.0, 1.0))
    shapes = {
        "single voxel": [(4, 4, 4)],
        "line": [(4, 4, 2), (4, 4, 3), (4, 4, 5)],
        "plane": [(4, 2, 2), (4, 3, 5)],
        "volume": [(2, 2, 2), (5, 6, 7)],
    }
    for what, voxels in shapes.items():
        array = np.zeros((8, 9, 10), dtype=np.uint32)
        for index in voxels:
            array[index] = 1
        mask = sitk.GetImageFromArray(array)
        mask.CopyInformation(image)
        for settings in ({}, {"minimumROIDimensions": 1}, {"minimumROIDimensions": 3}, {"minimumROISize": 1},
                         {"minimumROISize": 2}, {"minimumROISize": None}):
            _check_mask_both(image, mask, settings, what)
    with pytest.raises(ValueError, match="single voxel"):
        preprocessing.check_mask(image, _single(image))


def _single(image: sitk.Image) -> sitk.Image:
    mask = sitk.Image(image.GetSize(), sitk.sitkUInt32)
    mask.CopyInformation(image)
    mask[1, 2, 3] = 1
    return mask


def test_check_mask_two_dimensional():
    image, mask = _synthetic((15, 17), (0.6, 0.7))
    for settings in ({}, {"label": 2}, {"minimumROIDimensions": 3}, {"minimumROISize": 4}):
        _check_mask_both(image, mask, settings, "2D")


def _shifted(mask: sitk.Image, origin=None, spacing=None, direction=None) -> sitk.Image:
    moved = sitk.Image(mask)
    if origin is not None:
        moved.SetOrigin(origin)
    if spacing is not None:
        moved.SetSpacing(spacing)
    if direction is not None:
        moved.SetDirection(direction)
    return moved


@pytest.mark.parametrize("tolerance", [None, 1e-6, 1e-4, 1e-2])
def test_check_mask_geometry_tolerance(tolerance):
    """Origin, spacing and direction differences just inside / outside the tolerance, with and without correctMask."""
    image, mask = _synthetic()
    scale = tolerance if tolerance is not None else 1e-6
    coordinate = scale * image.GetSpacing()[0]
    origin, spacing = np.array(image.GetOrigin()), np.array(image.GetSpacing())
    direction = np.array(image.GetDirection())
    for factor in (0.5, 0.999, 1.001, 2.0, 50.0):
        for axis in range(3):
            step = np.zeros(3)
            step[axis] = factor * coordinate
            variants = {
                "origin": _shifted(mask, origin=tuple(origin + step)),
                "spacing": _shifted(mask, spacing=tuple(spacing + step)),
            }
            rotation = direction.copy()
            rotation[axis * 4] -= factor * scale  # diagonal cosine change (no longer exactly orthonormal)
            with contextlib.suppress(RuntimeError):  # SimpleITK refuses a singular direction
                variants["direction"] = _shifted(mask, direction=tuple(rotation))
            for what, moved in variants.items():
                for correct in (False, True):
                    settings = {"correctMask": correct}
                    if tolerance is not None:
                        settings["geometryTolerance"] = tolerance
                    _check_mask_both(image, moved, settings, f"{what} x{factor} axis {axis}")


def test_check_mask_correct_mask():
    """Masks on another grid: refused without correctMask, resampled onto the image grid with it."""
    image, mask = _synthetic((12, 20, 18), (0.7, 0.7, 2.0))
    coarse = sitk.Resample(mask, [9, 7, 12], sitk.Transform(), sitk.sitkNearestNeighbor, image.GetOrigin(),
                           (1.4, 1.4, 2.0), image.GetDirection(), 0, sitk.sitkUInt32)
    larger = sitk.ConstantPad(mask, [0, 0, 0], [2, 1, 3])
    smaller = sitk.Crop(mask, [0, 0, 0], [1, 1, 1])
    shifted = _shifted(mask, origin=tuple(np.array(image.GetOrigin()) + (0.35, -0.2, 1.0)))
    outside = _shifted(mask, origin=tuple(np.array(image.GetOrigin()) + (9.0, 0.0, 0.0)))  # ROI beyond the image
    two_d = mask[:, :, 5]
    for what, moved in {"coarse": coarse, "larger": larger, "smaller": smaller, "shifted": shifted,
                        "outside": outside, "2D mask": two_d}.items():
        for settings in ({}, {"correctMask": True}, {"correctMask": True, "label": 2},
                         {"correctMask": True, "label": 4}):
            _check_mask_both(image, moved, settings, what)
    with pytest.raises(ValueError, match="size mismatch.*correctMask"):
        preprocessing.check_mask(image, larger)
    with pytest.raises(ValueError, match="geometry mismatch.*geometryTolerance"):
        preprocessing.check_mask(image, shifted)
    with pytest.raises(ValueError, match="larger than image space"):
        preprocessing.check_mask(image, outside, correctMask=True)


def test_check_mask_refuses_non_label_masks():
    image, mask = _synthetic()
    with pytest.raises(ValueError, match="not an integer label map"):
        preprocessing.check_mask(image, sitk.Cast(mask, sitk.sitkFloat32))


# ---------------------------------------------------------------- cropToTumorMask
def test_crop_to_mask():
    cases = [(name, *_lesion_region(name)) for name in ("lung1", "brain2")]
    cases += [(name, image, mask) for name, image, mask, _ in random_cases(3)]
    for name, image, mask in cases:
        box, _ = _io().checkMask(image, mask, minimumROIDimensions=1)
        for settings in ({}, {"padDistance": 0}, {"padDistance": 1}, {"padDistance": 4}, {"padDistance": 500}):
            ours = preprocessing.crop_to_mask(image, mask, box, **settings)
            theirs = _io().cropToTumorMask(image, mask, box, **settings)
            for one, other in zip(ours, theirs):
                _assert_same_image(one, other, f"{name} {settings}")
    with pytest.raises(ValueError, match="padDistance"):
        preprocessing.crop_to_mask(image, mask, box, padDistance=1.5)


# ---------------------------------------------------------------- normalizeImage
NORMALIZE_SETTINGS = [
    {}, {"normalizeScale": 100}, {"normalizeScale": 0.5}, {"removeOutliers": 3}, {"removeOutliers": 0.5},
    {"normalizeScale": 500, "removeOutliers": 2.5}, {"removeOutliers": -1},
]


@pytest.mark.parametrize("case", ["lung1", "breast1"])
def test_normalize_image_sdist(case):
    image, _ = _lesion_region(case, margin=30)
    for settings in NORMALIZE_SETTINGS:
        _assert_same_image(preprocessing.normalize_image(image, **settings), _io().normalizeImage(image, **settings),
                           f"{case} {settings}")


def test_normalize_image_synthetic():
    for dtype in (np.int16, np.uint8, np.float32, np.float64):
        image, _ = _synthetic(seed=4, dtype=dtype)
        for settings in NORMALIZE_SETTINGS:
            ours = preprocessing.normalize_image(image, **settings)
            _assert_same_image(ours, _io().normalizeImage(image, **settings), f"{dtype} {settings}")


# ---------------------------------------------------------------- resegmentMask
RESEGMENT_SETTINGS = [
    {"resegmentRange": [-100, 200]}, {"resegmentRange": [200, -100]}, {"resegmentRange": [0]},
    {"resegmentRange": (-50.5,)}, {"resegmentRange": [-3000, 3000], "resegmentMode": "absolute"},
    {"resegmentRange": [0.2, 0.9], "resegmentMode": "relative"}, {"resegmentRange": [0.5], "resegmentMode": "relative"},
    {"resegmentRange": [-1, 1.5], "resegmentMode": "sigma"}, {"resegmentRange": [2], "resegmentMode": "sigma"},
    {"resegmentRange": [5000]}, {"resegmentRange": [10, 10.5]},  # too few voxels left: refused
    {"resegmentRange": []}, {"resegmentRange": [1, 2, 3]}, {"resegmentRange": None},
    {"resegmentRange": [0, 1], "resegmentMode": "percentile"},
]


@pytest.mark.parametrize("case", SDIST_CASES)
def test_resegment_mask_sdist(case):
    image, mask = _lesion_region(case)
    for settings in RESEGMENT_SETTINGS:
        ours, theirs = _both(preprocessing.resegment_mask, _io().resegmentMask, image, mask, **settings)
        if ours is not None:
            _assert_same_image(ours, theirs, f"{case} {settings}")


def test_resegment_mask_labels_and_float_images():
    for dtype in (np.int16, np.float32, np.float64):
        image, mask = _synthetic(seed=5, dtype=dtype)
        for label in (1, 2):
            for settings in RESEGMENT_SETTINGS:
                ours, theirs = _both(
                    preprocessing.resegment_mask, _io().resegmentMask, image, mask, label=label, **settings
                )
                if ours is not None:
                    _assert_same_image(ours, theirs, f"{dtype} label {label} {settings}")
    with pytest.raises(ValueError, match="not recognized"):
        preprocessing.resegment_mask(image, mask, resegmentRange=[0, 1], resegmentMode="percentile")
    with pytest.raises(ValueError, match="retained 0 voxel"):
        preprocessing.resegment_mask(image, mask, resegmentRange=[1e9])


# ---------------------------------------------------------------- resampleImage
INTERPOLATORS = [
    "sitkNearestNeighbor", "sitkLinear", "sitkBSpline", "sitkBSpline1", "sitkBSpline2", "sitkBSpline3",
    "sitkBSpline4", "sitkBSpline5", "sitkBSplineResampler", "sitkBSplineResamplerOrder1",
    "sitkBSplineResamplerOrder2", "sitkBSplineResamplerOrder3", "sitkBSplineResamplerOrder4",
    "sitkBSplineResamplerOrder5", "sitkGaussian", "sitkLabelGaussian", "sitkLabelLinear",
    "sitkHammingWindowedSinc", "sitkCosineWindowedSinc", "sitkWelchWindowedSinc", "sitkLanczosWindowedSinc",
    "sitkBlackmanWindowedSinc", "sitkNoSuchInterpolator",
]


def _resample_both(image, mask, settings, context=""):
    ours, theirs = _both(preprocessing.resample_image, _io().resampleImage, image, mask, **settings)
    if ours is not None:
        for one, other, what in zip(ours, theirs, ("image", "mask")):
            _assert_same_image(one, other, f"{context} {settings} {what}")
    return ours


@pytest.mark.parametrize("case", SDIST_CASES)
def test_resample_image_sdist(case):
    image, mask = _lesion_region(case)
    spacing = list(image.GetSpacing())
    for settings in (
        {"resampledPixelSpacing": [1, 1, 1]},
        {"resampledPixelSpacing": [2, 2, 0], "interpolator": "sitkLinear", "padDistance": 2},
        {"resampledPixelSpacing": [0, 0, 1.25], "interpolator": sitk.sitkBSpline, "padDistance": 0},
        {"resampledPixelSpacing": [0.5, 0.75, 3], "interpolator": "sitkNearestNeighbor", "label": 1},
        {"resampledPixelSpacing": spacing},  # same spacing: only the mask is put on the image grid, then cropped
        {"resampledPixelSpacing": spacing, "padDistance": 3},
        {"resampledPixelSpacing": [1, 1, 1], "label": 9},  # absent label: both refuse
        {"resampledPixelSpacing": [1, 1]},  # wrong dimension: both refuse
    ):
        _resample_both(image, mask, settings, case)


@pytest.mark.parametrize("interpolator", INTERPOLATORS)
def test_resample_image_interpolators(interpolator):
    image, mask = _synthetic((10, 16, 15), (0.8, 0.8, 2.5), seed=6)
    _resample_both(image, mask, {"resampledPixelSpacing": [1.1, 0.6, 1.7], "interpolator": interpolator}, interpolator)
    value = getattr(sitk, interpolator, None)
    if value is not None:
        _resample_both(image, mask, {"resampledPixelSpacing": [1.1, 0.6, 1.7], "interpolator": value}, str(value))


def test_resample_image_settings():
    image, mask = _synthetic((10, 16, 15), (0.8, 0.8, 2.5), seed=7)
    float_image, _ = _synthetic((10, 16, 15), (0.8, 0.8, 2.5), seed=7, dtype=np.float32)
    for settings in (
        {"resampledPixelSpacing": [1, 1, 1], "padDistance": 0},
        {"resampledPixelSpacing": [1, 1, 1], "padDistance": 1},
        {"resampledPixelSpacing": [1, 1, 1], "padDistance": 50},
        {"resampledPixelSpacing": [0, 0, 0]},  # all zero: the mask's own spacing (no interpolation)
        {"resampledPixelSpacing": [0.8, 0.8, 2.5 + 1e-6]},  # allclose: no interpolation
        {"resampledPixelSpacing": [0.4, 0, 0]},
        {"resampledPixelSpacing": [3, 3, 3], "label": 2},
        {"resampledPixelSpacing": [0.3, 0.3, 0.3], "interpolator": "sitkLinear"},
    ):
        _resample_both(image, mask, settings)
        _resample_both(float_image, mask, settings, "float32")


def test_resample_image_random_cases():
    for name, image, mask, settings in random_cases(4):
        for spacing in ([1, 1, 1], [0.6, 0.6, 0], [2.0, 1.5, 1.2]):
            _resample_both(image, mask, {**settings, "resampledPixelSpacing": spacing, "padDistance": 2}, name)


def test_resample_image_one_voxel_thick_roi_keeps_that_spacing():
    image, _ = _synthetic((10, 16, 15), (0.8, 0.8, 2.5), seed=8)
    array = np.zeros((10, 16, 15), dtype=np.uint32)
    array[4, 3:9, 2:12] = 1  # one slice
    mask = sitk.GetImageFromArray(array)
    mask.CopyInformation(image)
    resampled, _ = _resample_both(image, mask, {"resampledPixelSpacing": [1, 1, 1]})
    assert resampled.GetSpacing() == (1.0, 1.0, 2.5)


def test_resample_image_mask_on_another_grid():
    """A mask with its own spacing: the grid is the mask's; also when the target is the mask's spacing."""
    image, _ = _synthetic((12, 20, 18), (0.7, 0.7, 2.0), seed=9)
    array = np.zeros((12, 10, 9), dtype=np.uint32)
    array[3:8, 2:7, 3:7] = 1
    mask = sitk.GetImageFromArray(array)
    mask.SetSpacing((1.4, 1.4, 2.0))
    mask.SetOrigin(tuple(np.array(image.GetOrigin()) + (0.35, 0.35, 0.0)))
    for settings in (
        {"resampledPixelSpacing": [1, 1, 1]},
        {"resampledPixelSpacing": [1.4, 1.4, 2.0]},  # the mask's spacing: interpolated all the same
        {"resampledPixelSpacing": [0.7, 0.7, 2.0], "padDistance": 2},  # the image's spacing: mask put on its grid
    ):
        _resample_both(image, mask, settings)


def test_resample_image_refusals():
    image, mask = _synthetic(seed=10)
    with pytest.raises(ValueError, match="resampledPixelSpacing"):
        preprocessing.resample_image(image, mask)
    with pytest.raises(ValueError, match="Wrong dimensionality"):
        preprocessing.resample_image(image, mask, resampledPixelSpacing=[1, 1])
    with pytest.raises(ValueError, match="not present"):
        preprocessing.resample_image(image, mask, resampledPixelSpacing=[1, 1, 1], label=0)
    outside = _shifted(mask, origin=tuple(np.array(image.GetOrigin()) + (50.0, 0.0, 0.0)))
    with pytest.raises(ValueError, match="larger than image space"):
        preprocessing.resample_image(image, outside, resampledPixelSpacing=[1, 1, 1])
    _resample_both(image, outside, {"resampledPixelSpacing": [1, 1, 1]})
