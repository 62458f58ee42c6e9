"""Parity of the native GLSZM (``MIRVLib.engine.glszm``) with PyRadiomics' ``glszm`` class, computed here.

Real sdist images and seeded random cases, with the settings the class reads varied (binning, force2D along
each axis), plus PyRadiomics' behaviour for requested subsets, 2-D images and ROIs with no possible angle.
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


def test_zones_match_per_level_labelling():
    """The run-and-link zone finder equals labelling each gray level with SciPy (26- / 8-connectivity)."""
    from scipy import ndimage

    rng = np.random.default_rng(11)
    levels = rng.integers(0, 4, size=(6, 9, 11))
    for force2d in (-1, 0, 1, 2):
        expected = []
        for level in range(1, 4):
            structure = np.ones((3, 3, 3), dtype=bool)
            if force2d >= 0:
                structure = np.zeros((3, 3, 3), dtype=bool)
                plane = [slice(None)] * 3
                plane[force2d] = 1
                structure[tuple(plane)] = True
            labelled, count = ndimage.label(levels == level, structure)
            expected += [(level, size) for size in np.bincount(labelled.ravel())[1:]]
        zone_levels, zone_sizes = glszm.zones(levels, force2d)
        assert sorted(zip(zone_levels.tolist(), zone_sizes.tolist())) == sorted(expected)
