"""Parity of the native GLSZM (``MIRVLib.engine.glszm``) with PyRadiomics' ``glszm`` class, computed here.

Real sdist images and seeded random cases, with the settings the class reads varied (binning, force2D along
each axis), plus PyRadiomics' behaviour for requested subsets, 2-D images and ROIs with no possible angle; the
zone finder against per-level SciPy labelling. (Feature names, unknown names and SciPy-free imports:
test_engine_contract.py.)
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import pytest
import SimpleITK as sitk
from engine_cases import compare_class, crop, random_variants_test, region_of, sdist_case, sdist_variants_test

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


check = functools.partial(compare_class, glszm, "glszm", raises_alike=True)  # image, mask, settings, context, names


test_sdist_cases = sdist_variants_test(glszm, "glszm", SETTINGS_VARIANTS, raises_alike=True)


RANDOM_VARIANTS = ("default", "force2D_axis0", "force2D_axis1", "force2D_axis2")
test_random_cases = random_variants_test(
    glszm, "glszm", {name: SETTINGS_VARIANTS[name] for name in RANDOM_VARIANTS}, range(4), raises_alike=True
)


def test_requested_subset_in_requested_order():
    image, mask = sdist_case("lung1")
    names = ["ZoneEntropy", "SmallAreaEmphasis", "ZonePercentage", "GrayLevelVariance"]
    check(image, mask, {"label": 1}, "subset", names)
    cropped, cropped_mask = crop(image, mask, {"label": 1})
    assert list(glszm.compute(region_of(cropped, cropped_mask, {"label": 1}), names)) == names


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
