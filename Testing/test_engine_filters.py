"""MIRVLib.engine.filters against PyRadiomics' ``imageoperations.get<Type>Image``, computed in the test.

Every yielded image must be PyRadiomics' bit for bit (``np.array_equal``, NaN equal to NaN), with the same
name, order, pixel type, geometry and settings. Inputs: the sdist's images cropped around their label (as
the orchestrator hands over a padded lesion crop), the seeded random cases, and synthetic images for the
edge cases (odd/even sizes, 2D images, tiny images, negative/zero/NaN intensities, float32 voxels).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
import pywt
import SimpleITK as sitk
from engine_cases import SDIST_CASES, random_cases, sdist_case

from MIRVLib.engine import filters

logging.getLogger("radiomics").setLevel(logging.ERROR)


def _outputs(generator) -> list[tuple[str, sitk.Image, dict[str, Any]]]:
    return [(name, image, settings) for image, name, settings in generator]


def _assert_same_images(native, reference, context: str) -> None:
    assert [name for name, _, _ in native] == [name for name, _, _ in reference], context
    for (name, ours, our_settings), (_, theirs, their_settings) in zip(native, reference):
        where = f"{context} {name}"
        assert ours.GetPixelID() == theirs.GetPixelID(), where
        assert ours.GetSize() == theirs.GetSize(), where
        assert ours.GetOrigin() == theirs.GetOrigin(), where
        assert ours.GetSpacing() == theirs.GetSpacing(), where
        assert ours.GetDirection() == theirs.GetDirection(), where
        ours_array, theirs_array = sitk.GetArrayViewFromImage(ours), sitk.GetArrayViewFromImage(theirs)
        assert np.array_equal(ours_array, theirs_array, equal_nan=True), (
            f"{where}: max difference {np.nanmax(np.abs(ours_array.astype(float) - theirs_array)):g}"
        )
        assert our_settings == their_settings, where


def _compare(type_name: str, image: sitk.Image, mask: sitk.Image, settings: dict[str, Any], context: str = "") -> int:
    """Run both implementations; return how many images they yielded."""
    from radiomics import imageoperations

    reference = _outputs(getattr(imageoperations, f"get{type_name}Image")(image, mask, **settings))
    native = _outputs(filters.IMAGE_TYPES[type_name](image, mask, **settings))
    _assert_same_images(native, reference, f"{context} {type_name} {settings}")
    return len(native)


def _lesion_crop(name: str, pad: int = 5) -> tuple[sitk.Image, sitk.Image]:
    """The sdist case cropped around its label with ``pad`` voxels (PyRadiomics' own check + crop)."""
    from radiomics import imageoperations

    image, mask = sdist_case(name)
    box, _ = imageoperations.checkMask(image, mask)
    return imageoperations.cropToTumorMask(image, mask, box, padDistance=pad)


def _synthetic(
    shape: tuple[int, ...], spacing: tuple[float, ...], seed: int = 0, dtype=np.int16
) -> tuple[sitk.Image, sitk.Image]:
    rng = np.random.default_rng(seed)
    values = rng.normal(20, 300, size=shape)
    array = values.astype(dtype) if np.dtype(dtype).kind == "f" else np.round(values).astype(dtype)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(tuple(-3.5 * (i + 1) for i in range(len(shape))))
    mask_array = np.zeros(shape, dtype=np.uint32)
    mask_array[tuple(slice(1, max(2, n - 1)) for n in shape)] = 1
    mask = sitk.GetImageFromArray(mask_array)
    mask.CopyInformation(image)
    return image, mask


SDIST_SETTINGS = [
    ("Original", {}),
    ("Wavelet", {}),
    ("Wavelet", {"wavelet": "haar", "level": 2}),
    ("Wavelet", {"wavelet": "db2", "start_level": 1}),
    ("LoG", {"sigma": [1.0, 2.5, 3, 5.0]}),
    ("Square", {}),
    ("SquareRoot", {}),
    ("Logarithm", {}),
    ("Exponential", {}),
    ("Gradient", {}),
    ("Gradient", {"gradientUseSpacing": False}),
]


@pytest.mark.parametrize("case", SDIST_CASES)
def test_sdist_lesion_crops(case):
    image, mask = _lesion_crop(case)
    for type_name, settings in SDIST_SETTINGS:
        _compare(type_name, image, mask, {"binWidth": 25, "label": 1, **settings}, case)


def test_random_cases():
    for seed in (0, 1):
        for name, image, mask, settings in random_cases(seed):
            for type_name, custom in SDIST_SETTINGS:
                _compare(type_name, image, mask, {**settings, **custom}, f"seed {seed} {name}")


# ---------------------------------------------------------------- wavelet
@pytest.mark.parametrize("shape", [(9, 10, 11), (8, 12, 6), (7, 7, 7), (1, 6, 5)])
def test_wavelet_odd_and_even_sizes(shape):
    image, mask = _synthetic(shape, (0.8, 0.8, 2.0))
    assert _compare("Wavelet", image, mask, {}) == 8


@pytest.mark.parametrize("name", ["coif1", "haar", "db1", "db3", "sym2", "sym4", "bior1.3", "rbio2.2", "coif2", "dmey"])
def test_wavelet_families(name):
    image, mask = _synthetic((12, 13, 10), (1.0, 1.0, 1.5), seed=3)
    _compare("Wavelet", image, mask, {"wavelet": name})


def test_wavelet_object_setting():
    image, mask = _synthetic((10, 9, 8), (1.0, 1.0, 1.0), seed=4)
    _compare("Wavelet", image, mask, {"wavelet": pywt.Wavelet("db2")})


@pytest.mark.parametrize("level, start_level", [(1, 0), (2, 0), (3, 0), (1, 1), (2, 1), (1, 2), (0, 0), (0, 1)])
def test_wavelet_levels(level, start_level):
    image, mask = _synthetic((11, 10, 9), (0.7, 0.7, 3.0), seed=5)
    count = _compare("Wavelet", image, mask, {"level": level, "start_level": start_level})
    assert count == 7 * level + 1


def test_wavelet_level_names():
    image, mask = _synthetic((8, 8, 8), (1.0, 1.0, 1.0), seed=6)
    names = [name for _, name, _ in filters.wavelet(image, mask, level=2)]
    assert names[:7] == [f"wavelet-{band}" for band in ("LLH", "LHL", "LHH", "HLL", "HLH", "HHL", "HHH")]
    assert names[7:] == [f"wavelet2-{band}" for band in ("LLH", "LHL", "LHH", "HLL", "HLH", "HHL", "HHH", "LLL")]


@pytest.mark.parametrize("dimension", [0, 1, 2])
def test_wavelet_force2d(dimension):
    image, mask = _synthetic((9, 10, 12), (0.9, 0.9, 2.0), seed=7)
    assert _compare("Wavelet", image, mask, {"force2D": True, "force2Ddimension": dimension, "level": 2}) == 7


def test_wavelet_float32_and_2d_images():
    image, mask = _synthetic((10, 11, 9), (1.0, 1.0, 1.0), seed=8, dtype=np.float32)
    _compare("Wavelet", image, mask, {})
    image, mask = _synthetic((13, 10), (0.6, 0.6), seed=9)
    assert _compare("Wavelet", image, mask, {"level": 2}) == 7


def test_wavelet_skipped_levels_use_only_the_approximation():
    """``start_level`` keeps only the all-low-pass band of the skipped levels (computed without the others)."""
    rng = np.random.default_rng(10)
    data = rng.normal(size=(10, 12, 8))
    axes = (2, 1, 0)
    full = pywt.swtn(data, "coif1", level=1, start_level=0, axes=axes)[0]["aaa"]
    assert np.array_equal(filters._approximation(data, pywt.Wavelet("coif1"), axes), full)


# ---------------------------------------------------------------- LoG
def test_log_sigmas_names_and_skips():
    image, mask = _synthetic((12, 20, 20), (0.7, 0.7, 2.5), seed=11)
    # 0 and negative skipped; 30 mm too large for 12 slices of 2.5 mm; 9.5 fits (ceil(9.5/2.5)+1 = 5 <= 12)
    settings = {"sigma": [1, 1.5, 0, -2.0, 30.0, 9.5, 2]}
    assert _compare("LoG", image, mask, settings) == 4
    names = [name for _, name, _ in filters.laplacian_of_gaussian(image, mask, **settings)]
    assert names == ["log-sigma-1-mm-3D", "log-sigma-1-5-mm-3D", "log-sigma-9-5-mm-3D", "log-sigma-2-mm-3D"]


def test_log_without_sigma_and_on_tiny_images():
    image, mask = _synthetic((10, 10, 10), (1.0, 1.0, 1.0), seed=12)
    assert _compare("LoG", image, mask, {}) == 0
    image, mask = _synthetic((3, 10, 10), (1.0, 1.0, 1.0), seed=12)  # fewer than 4 slices: no LoG at all
    assert _compare("LoG", image, mask, {"sigma": [1.0]}) == 0


def test_log_2d_and_float_images():
    image, mask = _synthetic((15, 14), (0.5, 0.8), seed=13)
    assert _compare("LoG", image, mask, {"sigma": [1.0, 2.0]}) == 2
    image, mask = _synthetic((8, 9, 10), (1.0, 1.0, 1.0), seed=14, dtype=np.float32)
    assert _compare("LoG", image, mask, {"sigma": [0.5, 1.0, 3.0]}) == 3


# ---------------------------------------------------------------- point-wise filters and gradient
POINT_WISE = ("Square", "SquareRoot", "Logarithm", "Exponential")


@pytest.mark.parametrize("type_name", POINT_WISE + ("Gradient",))
def test_point_wise_intensity_ranges(type_name):
    rng = np.random.default_rng(15)
    arrays = {
        "negative": rng.integers(-2000, -1, size=(6, 7, 8)).astype(np.int16),
        "positive": rng.integers(1, 3000, size=(6, 7, 8)).astype(np.int16),
        "mixed_float32": rng.normal(0, 50, size=(6, 7, 8)).astype(np.float32),
        "mixed_float64_with_zeros": np.where(rng.random((6, 7, 8)) < 0.3, 0.0, rng.normal(0, 1e4, size=(6, 7, 8))),
        "all_zero": np.zeros((5, 6, 7), dtype=np.int16),  # 0/0: NaN images, as in PyRadiomics
        "one_value": np.full((5, 6, 7), 1.0),  # log(1) = 0 for Exponential
        "with_nan": np.where(rng.random((5, 6, 7)) < 0.1, np.nan, rng.normal(0, 10, size=(5, 6, 7))),
        "two_d": rng.integers(-500, 500, size=(9, 11)).astype(np.int32),
    }
    for label, array in arrays.items():
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((0.7, 1.1, 2.0)[: array.ndim])
        mask = sitk.GetImageFromArray(np.ones(array.shape, dtype=np.uint32))
        mask.CopyInformation(image)
        with np.errstate(all="ignore"):
            _compare(type_name, image, mask, {"gradientUseSpacing": label != "positive"}, label)


@pytest.mark.parametrize("function, type_name", [
    (filters.square, "Square"), (filters.square_root, "SquareRoot"),
    (filters.logarithm, "Logarithm"), (filters.exponential, "Exponential"),
])
def test_point_wise_on_a_crop_with_the_whole_images_maximum(function, type_name):
    """With the whole image's ``max_abs``, a crop is filtered exactly as PyRadiomics filters the whole image."""
    from radiomics import imageoperations

    image, mask = sdist_case("lung1")
    image = image[150:330, 200:360, :]  # still holds both air (-1024) and bone
    whole, _, _ = next(getattr(imageoperations, f"get{type_name}Image")(image, mask))
    voxels = sitk.GetArrayViewFromImage(image).astype(np.float64)
    crop = voxels[5:20, 30:90, 40:100]
    result = function(crop, max_abs=np.max(np.abs(voxels)))
    assert np.array_equal(result, sitk.GetArrayViewFromImage(whole)[5:20, 30:90, 40:100])


def test_original_is_the_input():
    image, mask = _synthetic((4, 5, 6), (1.0, 1.0, 1.0))
    [(filtered, name, settings)] = list(filters.original(image, mask, label=2, binWidth=5))
    assert filtered is image and name == "original" and settings == {"label": 2, "binWidth": 5}


def test_registry_names():
    assert set(filters.IMAGE_TYPES) == {
        "Original", "Wavelet", "LoG", "Square", "SquareRoot", "Logarithm", "Exponential", "Gradient",
    }
