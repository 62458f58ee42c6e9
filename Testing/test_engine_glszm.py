"""Parity of the native GLSZM (``MIRVLib.engine.glszm``) with PyRadiomics' ``glszm`` class, computed here.

Real sdist images and seeded random cases, with the settings the class reads varied (binning, force2D along
each axis), plus PyRadiomics' behaviour for requested subsets, 2-D images and ROIs with no possible angle; the
zone finder against per-level SciPy labelling, and the engine's texture modules importing no SciPy.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk
from engine_cases import (
    SDIST_CASES,
    assert_features_close,
    crop,
    pyradiomics_class_values,
    random_cases,
    region_of,
    sdist_case,
)
from fresh_interpreter import modules_loaded_by

from MIRVLib.engine import glszm

logging.getLogger("radiomics").setLevel(logging.CRITICAL)  # PyRadiomics logs the errors the tests provoke

SETTINGS_VARIANTS = {
    "default": {},
    "binWidth10": {"binWidth": 10},
    "binCount16": {"binCount": 16},
    "force2D_axis0": {"force2D": True, "force2Ddimension": 0},
    "force2D_axis1": {"force2D": True, "force2Ddimension": 1, "binWidth": 15},
    "force2D_axis2": {"force2D": True, "force2Ddimension": 2},
}


def check(image: sitk.Image, mask: sitk.Image, settings: dict, context: str, names=None) -> None:
    """Native and PyRadiomics' class on the same crop: equal values, or the same exception type."""
    cropped, cropped_mask = crop(image, mask, settings)
    try:
        reference = pyradiomics_class_values("glszm", cropped, cropped_mask, settings, names)
    except Exception as error:  # noqa: BLE001 - PyRadiomics' matrix errors propagate; ours must too
        with pytest.raises(type(error)):
            glszm.compute(region_of(cropped, cropped_mask, settings), list(names or glszm.FEATURES))
        return
    native = glszm.compute(region_of(cropped, cropped_mask, settings), list(names or reference))
    assert_features_close(native, reference, context)


def test_feature_names_are_pyradiomics():
    from radiomics import getFeatureClasses

    assert glszm.FEATURES == getFeatureClasses()["glszm"].getFeatureNames()
    assert list(glszm.FEATURES) == sorted(glszm.FEATURES)


@pytest.mark.parametrize("variant", sorted(SETTINGS_VARIANTS))
@pytest.mark.parametrize("case", SDIST_CASES)
def test_sdist_cases(case, variant):
    image, mask = sdist_case(case)
    check(image, mask, {"label": 1, **SETTINGS_VARIANTS[variant]}, f"{case} {variant}")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_cases(seed):
    for name, image, mask, settings in random_cases(seed):
        for variant in ("default", "force2D_axis0", "force2D_axis1", "force2D_axis2"):
            variant_settings = {**settings, **SETTINGS_VARIANTS[variant]}
            check(image, mask, variant_settings, f"seed {seed} {name} {variant}")


def test_requested_subset_in_requested_order():
    image, mask = sdist_case("lung1")
    names = ["ZoneEntropy", "SmallAreaEmphasis", "ZonePercentage", "GrayLevelVariance"]
    check(image, mask, {"label": 1}, "subset", names)
    cropped, cropped_mask = crop(image, mask, {"label": 1})
    assert list(glszm.compute(region_of(cropped, cropped_mask, {"label": 1}), names)) == names
    assert glszm.compute(region_of(cropped, cropped_mask, {"label": 1}), []) == {}


def test_unknown_feature_raises():
    image, mask = sdist_case("breast1")
    cropped, cropped_mask = crop(image, mask, {"label": 1})
    with pytest.raises(LookupError):
        glszm.compute(region_of(cropped, cropped_mask, {"label": 1}), ["NoSuchFeature"])


def test_two_dimensional_image():
    rng = np.random.default_rng(5)
    labels = np.zeros((20, 25), dtype=np.uint32)
    labels[3:17, 4:20] = rng.random((14, 16)) < 0.8
    image = sitk.GetImageFromArray(rng.normal(0, 100, (20, 25)))
    check(image, sitk.GetImageFromArray(labels), {"label": 1, "binWidth": 25}, "2-D image")


def test_line_roi_without_possible_angle_raises_like_pyradiomics():
    """A 1-voxel line ROI is fine in 3D; with force2D across its only axis PyRadiomics finds no angle and raises."""
    rng = np.random.default_rng(7)
    labels = np.zeros((5, 6, 9), dtype=np.uint32)
    labels[2, 3, 1:8] = 1
    image = sitk.GetImageFromArray(rng.normal(0, 100, labels.shape))
    mask = sitk.GetImageFromArray(labels)
    base = {"label": 1, "minimumROIDimensions": 1}
    check(image, mask, base, "line")
    check(image, mask, {**base, "force2D": True, "force2Ddimension": 0}, "line force2D axis 0")
    cropped, cropped_mask = crop(image, mask, base)
    across = {**base, "force2D": True, "force2Ddimension": 2}
    with pytest.raises(RuntimeError):
        glszm.compute(region_of(cropped, cropped_mask, across), ["ZoneEntropy"])
    check(image, mask, {**base, "force2D": True, "force2Ddimension": 2}, "line force2D axis 2")


def _labelled_zones(levels: np.ndarray, force2d: int) -> list[tuple[int, int]]:
    """(level, size) of every zone by labelling each gray level separately with SciPy (the obvious way)."""
    from scipy import ndimage

    structure = np.ones((3,) * levels.ndim, dtype=bool)
    if 0 <= force2d < levels.ndim:
        structure[:] = False
        plane = [slice(None)] * levels.ndim
        plane[force2d] = 1
        structure[tuple(plane)] = True
    found = []
    for level in np.unique(levels[levels > 0]).tolist():
        labelled, _ = ndimage.label(levels == level, structure)
        found += [(level, int(size)) for size in np.bincount(labelled.ravel())[1:]]
    return sorted(found)


def _found_zones(levels: np.ndarray, force2d: int) -> list[tuple[int, int]]:
    zone_levels, zone_sizes = glszm.zones(levels, force2d)
    return sorted(zip(zone_levels.tolist(), zone_sizes.tolist()))


@pytest.mark.parametrize("seed", range(4))
def test_zones_match_per_level_labelling(seed):
    """The run-and-link zone finder equals labelling each gray level with SciPy (26- / 8-connectivity)."""
    rng = np.random.default_rng(11 + seed)
    shapes = [(6, 9, 11), (1, 8, 13), (7, 1, 5), (9, 6, 1), (12, 17), (3, 4, 5, 6)]
    for shape in shapes:
        for n_levels in (1, 3, 6):
            levels = rng.integers(0, n_levels + 1, size=shape)
            blocky = np.repeat(levels, 2, axis=-1)  # longer runs along the last axis
            for array in (levels, blocky):
                for force2d in (-1, 0, 1, 2):
                    if all(size == 1 or axis == force2d for axis, size in enumerate(array.shape)):
                        with pytest.raises(RuntimeError):
                            glszm.zones(array, force2d)
                        continue
                    assert _found_zones(array, force2d) == _labelled_zones(array, force2d), (shape, force2d)


def test_zones_of_combs_and_stars():
    """Many runs touching one long run (a union-find worst case for naive hooking) and nested rings."""
    for width in (9, 200, 2001):
        for start in (0, 1):
            for row in (0, 1):
                levels = np.zeros((2, width), dtype=np.int64)
                levels[row, start::2] = 1
                levels[1 - row] = 1
                assert _found_zones(levels, -1) == [(1, int(levels.sum()))]
    rings = np.zeros((41, 41), dtype=np.int64)
    for ring in range(0, 20, 2):
        rings[ring : 41 - ring, ring : 41 - ring] = 1 + ring % 4
    stack = np.stack([rings, rings.T, np.roll(rings, 3, axis=1)])
    for force2d in (-1, 0, 1, 2):
        assert _found_zones(stack, force2d) == _labelled_zones(stack, force2d)


def test_texture_modules_import_no_scipy():
    """The engine's hot path stays free of SciPy: importing it costs more than these classes' whole work.

    The only SciPy allowed is what PyWavelets, which the engine package imports for its filters, imports itself:
    ``scipy.fft`` in PyWavelets 1.6 (pinned for Python 3.9), nothing in the releases pinned for Python 3.12.
    """
    watched = ["scipy", "scipy."]
    code = "import MIRVLib.engine.glszm, MIRVLib.engine.gldm, MIRVLib.engine.ngtdm"
    assert modules_loaded_by(code, watched) == modules_loaded_by("import pywt", watched)
