"""Parity of the native GLRLM (MIRVLib.engine.glrlm) with PyRadiomics' ``glrlm`` class, computed in the test.

The raw matrix is compared exactly with PyRadiomics' C ``calculate_glrlm`` on many small random volumes
(3D and 2D, sparse masks, force2D, one-voxel-thick crops, more than 255 gray levels, the per-mask layout cached
or not and shared by several images of one mask); the features are compared within the engine's tolerance on
the sdist's real images with the class's settings varied (bin width/count, every weightingNorm, force2D along
each axis) and on seeded random cases.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from engine_cases import SDIST_CASES, compare_class, crop, random_cases, region_of, sdist_crop

from MIRVLib.engine import glrlm
from MIRVLib.engine.region import Region

BASE = {"binWidth": 25, "label": 1}
SDIST_VARIANTS = {
    "default": {},
    "binWidth10": {"binWidth": 10},
    "binCount16": {"binCount": 16},
    "manhattan": {"weightingNorm": "manhattan"},
    "euclidean": {"weightingNorm": "euclidean"},
    "infinity": {"weightingNorm": "infinity"},
    "no_weighting": {"weightingNorm": "no_weighting"},
    "unknown_norm": {"weightingNorm": "chebyshev"},
    "force2D_0": {"force2D": True, "force2Ddimension": 0},
    "force2D_1": {"force2D": True, "force2Ddimension": 1},
    "force2D_2_euclidean": {"force2D": True, "force2Ddimension": 2, "weightingNorm": "euclidean"},
    "force2D_off_dimension_ignored": {"force2D": False, "force2Ddimension": 2},
}
RANDOM_VARIANTS = {
    "as_generated": {},
    "manhattan": {"weightingNorm": "manhattan"},
    "force2D_0": {"force2D": True, "force2Ddimension": 0},
    "force2D_1": {"force2D": True, "force2Ddimension": 1},
    "force2D_2": {"force2D": True, "force2Ddimension": 2},
}


# (image, mask, settings, context, names=None): on an already cropped pair, or cropping first.
_compare_cropped = functools.partial(compare_class, glrlm, "glrlm", cropped=True)
_compare = functools.partial(compare_class, glrlm, "glrlm")


@pytest.mark.parametrize("case", SDIST_CASES)
def test_sdist_cases_match_pyradiomics(case):
    image, mask = sdist_crop(case)
    for variant, settings in SDIST_VARIANTS.items():
        _compare_cropped(image, mask, {**BASE, **settings}, f"{case} {variant}")


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_random_cases_match_pyradiomics(seed):
    for name, image, mask, settings in random_cases(seed):
        for variant, extra in RANDOM_VARIANTS.items():
            _compare(image, mask, {**settings, **extra}, f"seed {seed} {name} {variant}")


def test_requested_names_in_given_order():
    image, mask = sdist_crop("lung1")
    names = ["RunVariance", "ShortRunEmphasis", "GrayLevelVariance", "RunEntropy"]
    _compare_cropped(image, mask, dict(BASE), "lung1 subset", names)


def test_flat_direction_like_pyradiomics():
    """Two voxels sharing only a diagonal that force2D excludes: PyRadiomics zeroes the one direction left.

    Its features are then NaN, except RunEntropy and RunVariance, sums over no run length (0), as in PyRadiomics.
    """
    for name, image, mask, settings in random_cases(0):
        if name != "tiny_diagonal_pair":
            continue
        for extra in ({}, {"weightingNorm": "infinity"}):
            all_settings = {**settings, "force2D": True, "force2Ddimension": 1, **extra}
            _compare(image, mask, all_settings, f"{name} {extra}")
            values = glrlm.compute(region_of(*crop(image, mask, all_settings), all_settings), list(glrlm.FEATURES))
            assert np.isnan(values["ShortRunEmphasis"]) and values["RunEntropy"] == 0
        return
    pytest.fail("random_cases no longer yields tiny_diagonal_pair")


def _random_volumes(seed: int, count: int):
    """Small random (gray levels, mask, force2D, force2D dimension) volumes, 2D and 3D, sparse to full masks."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        ndim = int(rng.choice([2, 3, 3, 3]))
        shape = tuple(int(n) for n in rng.integers(1, 8, size=ndim))
        mask = rng.random(shape) < rng.choice([0.1, 0.3, 0.7, 1.0])
        if not mask.any():
            continue
        n_levels = int(rng.choice([1, 2, 3, 6, 300]))
        image = rng.integers(0, n_levels, size=shape)
        yield image, mask, bool(rng.random() < 0.3), int(rng.integers(0, ndim))


def _matrix_matches_c(image, mask, force2d, dimension):
    from radiomics import cMatrices

    settings = {"binWidth": 1, "force2D": force2d, "force2Ddimension": dimension}
    region = Region(image, mask, (1.0,) * image.ndim, settings)
    try:
        reference, reference_angles = cMatrices.calculate_glrlm(
            region.gray_levels, mask, region.max_level, max(image.shape), force2d, dimension
        )
    except RuntimeError:  # no direction possible: both refuse
        with pytest.raises(RuntimeError):
            glrlm.run_length_matrix(region)
        return
    matrix, angles = glrlm.run_length_matrix(region)
    np.testing.assert_array_equal(angles, reference_angles)
    np.testing.assert_array_equal(matrix, reference[0])


def test_raw_matrix_equals_pyradiomics_c():
    for volume in _random_volumes(7, 600):
        _matrix_matches_c(*volume)


def test_no_possible_direction_raises_like_pyradiomics():
    """A crop that is a single column along the force2D axis leaves no direction: PyRadiomics raises."""
    mask = np.ones((1, 1, 5), dtype=bool)
    _matrix_matches_c(np.arange(5).reshape(1, 1, 5), mask, True, 2)
    with pytest.raises(RuntimeError):
        glrlm.directions((1, 1, 5), 2)


def test_raw_matrix_without_cached_layout(monkeypatch):
    """ROIs too large for the per-mask layout cache get the same matrices from an uncached layout."""
    monkeypatch.setattr(glrlm, "_CACHED_POSITIONS", 0)
    for volume in _random_volumes(11, 150):
        _matrix_matches_c(*volume)


def test_layout_shared_by_images_of_one_mask():
    """The image types of a lesion share one cached layout of the mask; another mask of the same crop shape,
    or the same mask with another force2D dimension, gets its own."""
    rng = np.random.default_rng(5)
    mask = rng.random((5, 6, 7)) < 0.6
    glrlm._cached_run_layout.cache_clear()
    for n_levels in (2, 5, 300):
        _matrix_matches_c(rng.integers(0, n_levels, size=mask.shape), mask, False, 0)
    assert glrlm._cached_run_layout.cache_info().hits == 2
    for force2d, dimension in ((True, 0), (True, 2)):
        _matrix_matches_c(rng.integers(0, 5, size=mask.shape), mask, force2d, dimension)
    _matrix_matches_c(rng.integers(0, 5, size=mask.shape), ~mask, False, 0)
    assert glrlm._cached_run_layout.cache_info().misses == 4


def test_large_crop_and_many_levels():
    """A 2-byte gray-level path (Ng > 255) on a real crop with a fine bin width, weighted and not."""
    image, mask = sdist_crop("brain1")
    for extra in ({"binWidth": 1}, {"binWidth": 1, "weightingNorm": "euclidean"}):
        settings = {**BASE, **extra}
        assert region_of(image, mask, settings).max_level > 255
        _compare_cropped(image, mask, settings, f"brain1 {extra}")
