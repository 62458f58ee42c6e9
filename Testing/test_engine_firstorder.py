"""MIRVLib.engine.firstorder against PyRadiomics' ``firstorder`` class, both run in the test on the same crop.

Inputs: the sdist's five real cases (default settings, other bin widths/counts, ``voxelArrayShift``, the
deprecated StandardDeviation requested by name, a subset of names in a custom order) and the seeded random
cases (shapes, plates, minimum-size lesions, int16/float images, anisotropic spacing for TotalEnergy).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from engine_cases import (
    SDIST_CASES,
    assert_features_close,
    compare_class,
    crop,
    pyradiomics_class_values,
    random_cases,
    region_of,
    sdist_crop,
)

from MIRVLib.engine import firstorder

logging.getLogger("radiomics").setLevel(logging.ERROR)

ALL_NAMES = list(firstorder.FEATURES)  # deprecated StandardDeviation included: PyRadiomics computes it by name


def _compare(image, mask, settings: dict[str, Any], names: Sequence[str] | None, context: str) -> None:
    compare_class(firstorder, "firstorder", image, mask, settings, context, names)


SDIST_SETTINGS = [
    {"binWidth": 25, "label": 1},
    {"binWidth": 10, "label": 1, "voxelArrayShift": 2000},
    {"binCount": 32, "label": 1},
    {"binWidth": 7.5, "label": 1, "voxelArrayShift": 300},
]


@pytest.mark.parametrize("case", SDIST_CASES)
def test_sdist_cases_default_names(case):
    image, mask = sdist_crop(case)
    _compare(image, mask, {"binWidth": 25, "label": 1}, None, f"{case} default")


@pytest.mark.parametrize("case", SDIST_CASES)
@pytest.mark.parametrize("settings", SDIST_SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_sdist_cases_all_names(case, settings):
    image, mask = sdist_crop(case)
    _compare(image, mask, settings, ALL_NAMES, f"{case} {settings}")


def test_subset_in_custom_order():
    image, mask = sdist_crop("lung2")
    names = ["Variance", "StandardDeviation", "Mean", "10Percentile", "TotalEnergy", "Entropy"]
    _compare(image, mask, {"binWidth": 25, "label": 1, "voxelArrayShift": 1000}, names, "lung2 subset")


@pytest.mark.parametrize("seed", range(6))
def test_random_cases(seed):
    rng = np.random.default_rng(1000 + seed)
    for name, image, mask, settings in random_cases(seed):
        if rng.random() < 0.5:
            settings = dict(settings, voxelArrayShift=int(rng.choice([0, 1000, 2000])))
        _compare(image, mask, settings, ALL_NAMES, f"seed {seed} {name} {settings}")


def test_float_image_with_fractional_values():
    """Float voxels (filtered images are float): interpolated percentiles, inexact means."""
    rng = np.random.default_rng(7)
    array = rng.normal(0.3, 0.01, size=(9, 10, 11))
    mask_array = np.zeros(array.shape, dtype=np.uint32)
    mask_array[2:7, 2:8, 3:9] = 1
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.8, 1.5))
    mask = sitk.GetImageFromArray(mask_array)
    mask.CopyInformation(image)
    _compare(image, mask, {"binWidth": 0.002, "label": 1}, ALL_NAMES, "float image")


def test_two_voxel_roi_robust_mad_is_nan():
    """Two voxels: the interpolated 10th-90th percentile range encloses neither, PyRadiomics gives NaN."""
    array = np.zeros((4, 4, 4), dtype=np.int16)
    array[1, 1, 1], array[1, 2, 2] = 10, 50
    mask_array = np.zeros(array.shape, dtype=np.uint32)
    mask_array[1, 1, 1] = mask_array[1, 2, 2] = 1
    image = sitk.GetImageFromArray(array)
    mask = sitk.GetImageFromArray(mask_array)
    settings = {"binWidth": 25, "label": 1}
    image, mask = crop(image, mask, settings)
    native = firstorder.compute(region_of(image, mask, settings), ALL_NAMES)
    assert math.isnan(native["RobustMeanAbsoluteDeviation"])
    assert_features_close(native, pyradiomics_class_values("firstorder", image, mask, settings, ALL_NAMES), "pair")
