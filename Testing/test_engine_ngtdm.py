"""MIRVLib.engine.ngtdm against PyRadiomics' ``ngtdm`` class (C ``calculate_ngtdm``), both run in the test.

Inputs: the sdist's five real cases with default settings and with other binning, ``distances`` (including
repeated distances, which repeat offsets in PyRadiomics' angle list) and ``force2D`` along each dimension; the
seeded random cases (plates, minimum-size lesions, border-touching lesions, a flat region) under several
settings; PyRadiomics' errors for distances that cannot be used; the vectorised neighbour sums against a
plain loop over the offsets. (Feature names, unknown names and SciPy-free imports: test_engine_contract.py.)
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from engine_cases import SDIST_CASES, compare_class, crop, pyradiomics_class_values, random_cases, region_of, sdist_crop

from MIRVLib.engine import ngtdm

logging.getLogger("radiomics").setLevel(logging.ERROR)


def _compare(image, mask, settings: dict[str, Any], context: str, cropped: bool = False) -> bool:
    """Compare on the crop; when PyRadiomics raises (no usable neighbour offset), the engine must raise alike.

    Returns whether values were compared.
    """
    return compare_class(ngtdm, "ngtdm", image, mask, settings, context, cropped=cropped, raises_alike=True)


def _ids(settings: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in settings.items() if k != "label")


SDIST_SETTINGS = [
    {"binWidth": 25, "label": 1},
    {"binCount": 16, "label": 1},
    {"binWidth": 10, "label": 1, "distances": [1, 2]},
    {"binWidth": 25, "label": 1, "distances": [2]},
    {"binWidth": 25, "label": 1, "distances": [1, 1]},
    {"binWidth": 25, "label": 1, "distances": [2, 1, 2]},
    {"binWidth": 25, "label": 1, "force2D": True, "force2Ddimension": 0},
    {"binWidth": 25, "label": 1, "force2D": True, "force2Ddimension": 1},
    {"binWidth": 25, "label": 1, "force2D": True, "force2Ddimension": 2, "distances": [1, 3]},
    {"binWidth": 25, "label": 1, "force2D": False, "force2Ddimension": 1},
]


@pytest.mark.parametrize("case", SDIST_CASES)
@pytest.mark.parametrize("settings", SDIST_SETTINGS, ids=_ids)
def test_sdist_cases(case, settings):
    image, mask = sdist_crop(case)
    assert _compare(image, mask, settings, f"{case} {settings}", cropped=True)


RANDOM_VARIANTS = [
    {},
    {"distances": [2]},
    {"distances": [1, 1]},
    {"distances": [3, 1, 3]},
    {"force2D": True, "force2Ddimension": 0},
    {"force2D": True, "force2Ddimension": 1, "distances": [1, 2]},
    {"force2D": True, "force2Ddimension": 2},
]


@pytest.mark.parametrize("seed", range(6))
def test_random_cases(seed):
    compared = 0
    for name, image, mask, settings in random_cases(seed):
        image, mask = crop(image, mask, settings)
        for variant in RANDOM_VARIANTS:
            compared += _compare(image, mask, dict(settings, **variant), f"seed {seed} {name} {variant}", cropped=True)
    assert compared >= 0.8 * 13 * len(RANDOM_VARIANTS)


@pytest.mark.parametrize(
    "settings, error",
    [
        ({"distances": [0]}, RuntimeError),  # distance below 1
        ({"distances": [9]}, RuntimeError),  # no offset fits in the crop
        ({"distances": 2}, ValueError),  # not a 1-D list
    ],
    ids=["zero", "beyond-crop", "scalar"],
)
def test_unusable_distances_raise_like_pyradiomics(settings, error):
    array = (np.arange(200, dtype=np.int16).reshape(8, 5, 5) * 7) % 113
    mask_array = np.zeros(array.shape, dtype=np.uint32)
    mask_array[1:7, 2, 2] = 1
    mask_array[3, 2, 3] = 1
    settings = dict({"binWidth": 25, "label": 1}, **settings)
    image, mask = crop(sitk.GetImageFromArray(array), sitk.GetImageFromArray(mask_array), settings)
    with pytest.raises(error):
        pyradiomics_class_values("ngtdm", image, mask, settings)
    with pytest.raises(error):
        ngtdm.compute(region_of(image, mask, settings), list(ngtdm.FEATURES))


@pytest.mark.parametrize(
    "settings",
    [{}, {"distances": [2]}, {"distances": [1, 3]}, {"distances": [1, 1]}, {"distances": [2, 1, 2]},
     {"force2D": True, "force2Ddimension": 1}, {"force2D": True, "force2Ddimension": 0, "distances": [2, 2, 1]}],
    ids=str,
)
def test_neighbour_sums_match_a_loop_over_offsets(settings):
    rng = np.random.default_rng(3)
    values = rng.integers(0, 50, size=(5, 7, 6)).astype(np.int64)
    hood = ngtdm.neighbourhood(values.shape, settings)
    expected = np.zeros_like(values)
    padded = np.pad(values, 4)
    for offset, weight in zip(hood.offsets, hood.weights):
        window = tuple(slice(4 + step, 4 + step + n) for step, n in zip(offset, values.shape))
        expected += weight * padded[window]
    np.testing.assert_array_equal(ngtdm.neighbour_sums(values, hood), expected)
