"""Parity of the native GLDM (``MIRVLib.engine.gldm``) with PyRadiomics' ``gldm`` class, computed here.

Real sdist images and seeded random cases, with the settings the class reads varied (``gldm_a``,
``distances`` including repeated ones, force2D along each axis, binning), plus PyRadiomics' angle list,
deprecated names, 2-D images and the settings PyRadiomics rejects. (Feature names, unknown names and
SciPy-free imports: test_engine_contract.py.)
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import pytest
import SimpleITK as sitk
from engine_cases import compare_class, crop, random_variants_test, region_of, sdist_case, sdist_variants_test

from MIRVLib.engine import gldm

logging.getLogger("radiomics").setLevel(logging.CRITICAL)  # PyRadiomics logs the errors the tests provoke

SETTINGS_VARIANTS = {
    "default": {},
    "alpha1": {"gldm_a": 1},
    "alpha3_binCount16": {"gldm_a": 3, "binCount": 16},
    "alpha_huge": {"gldm_a": 1000},
    "alpha_negative": {"gldm_a": -1},
    "distance2": {"distances": [2]},
    "distances12_alpha2": {"distances": [1, 2], "gldm_a": 2},
    "distances_repeated": {"distances": [2, 1, 2]},
    "force2D_axis0": {"force2D": True, "force2Ddimension": 0},
    "force2D_axis1_alpha1": {"force2D": True, "force2Ddimension": 1, "gldm_a": 1},
    "force2D_axis2_distances13": {"force2D": True, "force2Ddimension": 2, "distances": [1, 3]},
    "binWidth10": {"binWidth": 10},
}
RANDOM_VARIANTS = ("default", "alpha1", "distances12_alpha2", "force2D_axis0", "force2D_axis1_alpha1",
                   "force2D_axis2_distances13")


check = functools.partial(compare_class, gldm, "gldm", raises_alike=True)  # image, mask, settings, context, names


test_sdist_cases = sdist_variants_test(gldm, "gldm", SETTINGS_VARIANTS, raises_alike=True)


test_random_cases = random_variants_test(
    gldm, "gldm", {name: SETTINGS_VARIANTS[name] for name in RANDOM_VARIANTS}, range(4), raises_alike=True
)


@pytest.mark.parametrize("shape", [(3, 26, 24), (1, 5, 6), (2, 2, 2), (7, 1, 9), (4, 6)])
def test_angles_are_pyradiomics(shape):
    """Same offsets in the same order as PyRadiomics' generator, or the same error."""
    from radiomics import cMatrices

    for distances in ([1], [2], [1, 2], [3, 1], [1, 1], [2, 1, 2], [5], [0]):
        for force2d in (-1, 0, 1, 2):
            try:
                expected = cMatrices.generate_angles(np.array(shape), np.array(distances), True, force2d >= 0,
                                                     max(force2d, 0))
            except Exception as error:  # noqa: BLE001
                with pytest.raises(type(error)):
                    gldm.angles(shape, distances, force2d)
                continue
            np.testing.assert_array_equal(gldm.angles(shape, distances, force2d), expected)


def test_deprecated_and_subset_names():
    image, mask = sdist_case("lung1")
    names = ["DependencePercentage", "LargeDependenceEmphasis", "GrayLevelNonUniformityNormalized",
             "DependenceEntropy", "GrayLevelVariance"]
    check(image, mask, {"label": 1}, "subset", names)
    cropped, cropped_mask = crop(image, mask, {"label": 1})
    region = region_of(cropped, cropped_mask, {"label": 1})
    assert list(gldm.compute(region, names)) == ["LargeDependenceEmphasis", "DependenceEntropy", "GrayLevelVariance"]
    assert gldm.compute(region, ["DependencePercentage"]) == {}


@pytest.mark.parametrize(
    "bad", [{"distances": [0]}, {"distances": [30]}, {"distances": [[1, 2]]}, {"gldm_a": 0.5}],
    ids=["distance0", "distance_beyond_crop", "distances_2d", "alpha_float"],
)
def test_settings_pyradiomics_rejects(bad):
    image, mask = sdist_case("brain2")  # crop (3, 15, 20): no offset of infinity norm 30 fits
    check(image, mask, {"label": 1, **bad}, str(bad))
    cropped, cropped_mask = crop(image, mask, {"label": 1})
    with pytest.raises(Exception):  # noqa: B017 (any error will do: PyRadiomics' own exception types vary)
        gldm.compute(region_of(cropped, cropped_mask, {"label": 1, **bad}), ["DependenceEntropy"])


def test_two_dimensional_image():
    rng = np.random.default_rng(5)
    labels = np.zeros((20, 25), dtype=np.uint32)
    labels[3:17, 4:20] = rng.random((14, 16)) < 0.8
    image = sitk.GetImageFromArray(rng.normal(0, 100, (20, 25)))
    for settings in ({"label": 1}, {"label": 1, "distances": [1, 2], "gldm_a": 1}):
        check(image, sitk.GetImageFromArray(labels), settings, f"2-D image {settings}")
