"""Test inputs and comparisons shared by the native engine's parity tests.

Every native feature class is compared with PyRadiomics' own class on the same crop (PyRadiomics'
``checkMask`` + ``cropToTumorMask``, so both see identical voxels): the sdist's real images and masks,
and seeded random cases (random shapes, 1-voxel-thick plates, lesions at PyRadiomics' minimum size,
lesions touching the crop border, int16 and float images, random bin widths, anisotropic spacing).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from pyradiomics_data import pyradiomics_data_dir

from MIRVLib.engine.region import Region

# Parity tolerance of the native engine against PyRadiomics (issue 11).
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_FLOOR = 1e-12  # values below this in magnitude compare absolutely

SDIST_CASES = ("brain1", "brain2", "breast1", "lung1", "lung2")


def sdist_case(name: str) -> tuple[sitk.Image, sitk.Image]:
    """A real image and its label map from the PyRadiomics sdist (``data/<name>_image.nrrd``, ``_label.nrrd``)."""
    data = pyradiomics_data_dir()
    return sitk.ReadImage(str(data / f"{name}_image.nrrd")), sitk.ReadImage(str(data / f"{name}_label.nrrd"))


def single_slice_case(name: str) -> tuple[sitk.Image, sitk.Image]:
    """A sdist case with its label kept on one axial slice (the one with most voxels).

    PyRadiomics' own ``<case>_2D`` labels are downloaded from GitHub at test time; this stands in for them.
    """
    image, mask = sdist_case(name)
    array = sitk.GetArrayFromImage(mask)
    keep = int(np.argmax(np.count_nonzero(array, axis=(1, 2))))
    single = np.zeros_like(array)
    single[keep] = array[keep]
    single_mask = sitk.GetImageFromArray(single)
    single_mask.CopyInformation(mask)
    return image, single_mask


def crop(image: sitk.Image, mask: sitk.Image, settings: Mapping[str, Any]) -> tuple[sitk.Image, sitk.Image]:
    """Image and mask cropped to the ROI's bounding box exactly as PyRadiomics' extractor hands them to a class."""
    from radiomics import imageoperations

    box, corrected = imageoperations.checkMask(image, mask, **settings)
    if corrected is not None:
        mask = corrected
    return imageoperations.cropToTumorMask(image, mask, box)


def region_of(image: sitk.Image, mask: sitk.Image, settings: Mapping[str, Any]) -> Region:
    """The native :class:`Region` of an already cropped image and mask."""
    label = int(settings.get("label", 1))
    return Region(
        image=sitk.GetArrayFromImage(image),
        mask=sitk.GetArrayFromImage(mask) == label,
        spacing=tuple(image.GetSpacing()),
        settings=dict(settings),
    )


def pyradiomics_class_values(
    class_name: str, image: sitk.Image, mask: sitk.Image, settings: Mapping[str, Any], names=None
) -> dict[str, float]:
    """PyRadiomics' feature class ``class_name`` on a cropped image/mask: ``{feature: value}`` in its output order.

    ``names=None`` enables all non-deprecated features (PyRadiomics' default).
    """
    from radiomics import getFeatureClasses

    feature_class = getFeatureClasses()[class_name](image, mask, **dict(settings))
    for name in names or ():
        feature_class.enableFeatureByName(name)
    return {name: float(np.real(value)) for name, value in feature_class.execute().items()}


def assert_features_close(native: Mapping[str, float], reference: Mapping[str, float], context: str = "") -> None:
    """Same feature names in the same order, each value within ``RELATIVE_TOLERANCE`` (NaN equals NaN)."""
    assert list(native) == list(reference), f"{context}: names/order differ:\n{list(native)}\n{list(reference)}"
    bad = []
    for name, expected in reference.items():
        got = native[name]
        if math.isnan(expected) and math.isnan(got):
            continue
        if abs(expected) < ABSOLUTE_FLOOR:
            ok = abs(got - expected) < ABSOLUTE_FLOOR
        else:
            ok = abs(got - expected) <= RELATIVE_TOLERANCE * abs(expected)
        if not ok:
            bad.append(f"{name}: native {got!r} vs PyRadiomics {expected!r}")
    assert not bad, f"{context}: {len(bad)} features differ:\n" + "\n".join(bad)


# ---------------------------------------------------------------- seeded random cases
def _image(array: np.ndarray, spacing: tuple[float, float, float]) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin((-12.5, 40.0, 7.25))
    return image


def random_cases(seed: int = 0) -> Iterator[tuple[str, sitk.Image, sitk.Image, dict[str, Any]]]:
    """Seeded random (name, image, mask, settings) cases covering the shapes and types issue 11 lists.

    The mask is a UInt32 label map with label 1; settings vary the bin width (and sometimes use a bin count).
    """
    rng = np.random.default_rng(seed)
    spacings = [(1.0, 1.0, 1.0), (0.7, 0.7, 2.5), (0.5, 1.3, 3.0), (2.0, 2.0, 0.8)]

    def settings() -> dict[str, Any]:
        if rng.random() < 0.2:
            return {"binCount": int(rng.integers(4, 40)), "label": 1}
        return {"binWidth": float(rng.choice([5, 10, 25, 7.5, 33.3])), "label": 1}

    def ct(shape: tuple[int, int, int], float_image: bool) -> np.ndarray:
        values = rng.normal(40, 120, size=shape) + rng.integers(-3, 4, size=shape) * 60
        return values if float_image else np.round(values).astype(np.int16)

    def case(name: str, mask_array: np.ndarray, float_image: bool, spacing) -> tuple[str, sitk.Image, sitk.Image, dict]:
        image = _image(ct(mask_array.shape, float_image), spacing)
        mask = _image(mask_array.astype(np.uint32), spacing)
        return name, image, mask, settings()

    from scipy import ndimage

    for index in range(4):  # random blobs: thresholded smoothed noise
        shape = tuple(int(n) for n in rng.integers(8, 22, size=3))
        noise = rng.random(shape)
        blob = ndimage.gaussian_filter(noise, 1.5) > np.quantile(ndimage.gaussian_filter(noise, 1.5), 0.6)
        yield case(f"blob{index}", blob, bool(index % 2), spacings[index % len(spacings)])
    for axis in range(3):  # 1-voxel-thick plates
        shape = [12, 13, 14]
        plate = np.zeros(shape, dtype=bool)
        index = [slice(2, 10), slice(3, 11), slice(1, 12)]
        index[axis] = slice(5, 6)
        plate[tuple(index)] = rng.random(plate[tuple(index)].shape) < 0.8
        plate[tuple(s.start if i != axis else 5 for i, s in enumerate(index))] = True
        yield case(f"plate_axis{axis}", plate, axis == 1, spacings[(axis + 1) % len(spacings)])
    tiny = np.zeros((5, 5, 5), dtype=bool)  # PyRadiomics' minimum: 2 voxels spanning two dimensions
    tiny[2, 2, 2] = tiny[2, 3, 2] = tiny[2, 3, 3] = True
    yield case("tiny3", tiny, False, spacings[1])
    pair = np.zeros((4, 4, 4), dtype=bool)
    pair[1, 1, 1] = pair[1, 2, 2] = True
    yield case("tiny_diagonal_pair", pair, True, spacings[2])
    border = rng.random((10, 11, 9)) < 0.7  # ROI fills the crop: lesion touching every border
    yield case("border", border, False, spacings[3])
    flat = np.zeros((6, 7, 8), dtype=bool)
    flat[1:5, 2:6, 1:7] = True
    name, image, mask, _ = case("flat_region", flat, False, spacings[0])
    array = sitk.GetArrayFromImage(image)
    array[:] = 17  # one gray level in the whole ROI
    flat_image = _image(array, spacings[0])
    yield name, flat_image, mask, {"binWidth": 25, "label": 1}


# ---------------------------------------------------------------- comparisons shared by the per-class tests
def compare_class(
    module: Any,
    class_name: str,
    image: sitk.Image,
    mask: sitk.Image,
    settings: Mapping[str, Any],
    context: str,
    names: Sequence[str] | None = None,
    *,
    cropped: bool = False,
    raises_alike: bool = False,
) -> bool:
    """The engine's ``module.compute`` against PyRadiomics' class ``class_name`` on the same crop.

    ``names=None``: PyRadiomics' default (all non-deprecated features, in its order). ``cropped``: the image and
    mask are already cropped (else :func:`crop` with ``settings``). ``raises_alike``: when PyRadiomics raises
    (e.g. for settings its matrix rejects), the engine must raise the same exception type, and ``False`` is
    returned; otherwise values must agree (plain floats, same names and order) and ``True`` is returned.
    """
    if not cropped:
        image, mask = crop(image, mask, settings)
    try:
        reference = pyradiomics_class_values(class_name, image, mask, settings, names)
    except Exception as error:  # noqa: BLE001 - the engine must fail the same way
        if not raises_alike:
            raise
        with pytest.raises(type(error)):
            module.compute(region_of(image, mask, settings), list(names or module.FEATURES))
        return False
    native = module.compute(region_of(image, mask, settings), list(names or reference))
    assert all(type(value) is float for value in native.values()), f"{context}: not plain floats"
    assert_features_close(native, reference, context)
    return True


@functools.cache
def sdist_crop(name: str) -> tuple[sitk.Image, sitk.Image]:
    """The sdist case ``name`` cropped to label 1, once per session (the crop depends only on the label and
    PyRadiomics' mask checks, none of the feature classes' settings). Callers must not modify the images."""
    return crop(*sdist_case(name), {"label": 1})


def sdist_variants_test(
    module: Any, class_name: str, variants: Mapping[str, Mapping[str, Any]], **options: Any
) -> Callable[[str, str], None]:
    """A test, parametrised over the sdist cases and the named ``variants`` (settings added to ``label`` 1),
    that runs :func:`compare_class` (with ``options``) on each; assign it to a ``test_...`` name."""

    @pytest.mark.parametrize("variant", sorted(variants))
    @pytest.mark.parametrize("case", SDIST_CASES)
    def test(case: str, variant: str) -> None:
        settings = {"label": 1, **variants[variant]}
        compare_class(module, class_name, *sdist_case(case), settings, f"{case} {variant}", **options)

    return test


def random_variants_test(
    module: Any, class_name: str, variants: Mapping[str, Mapping[str, Any]], seeds: Iterable[int], **options: Any
) -> Callable[[int], None]:
    """A test, parametrised over ``seeds``, that runs :func:`compare_class` (with ``options``) on every seeded
    random case under each of the named ``variants`` (settings added to the case's own); assign it to a
    ``test_...`` name."""

    @pytest.mark.parametrize("seed", list(seeds))
    def test(seed: int) -> None:
        for name, image, mask, settings in random_cases(seed):
            for variant, extra in variants.items():
                context = f"seed {seed} {name} {variant}"
                compare_class(module, class_name, image, mask, {**settings, **extra}, context, **options)

    return test
