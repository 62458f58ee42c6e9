"""Parity of the native GLCM (MIRVLib.engine.glcm) with PyRadiomics' ``glcm`` class, computed in the test.

The angles and the raw co-occurrence counts (dense, and the sparse non-empty cells) are compared exactly with
PyRadiomics' C ``generate_angles`` and ``calculate_glcm``; the features are compared within the engine's
tolerance on the sdist's real images with the class's settings varied (bin width/count, distances,
symmetricalGLCM, every weightingNorm, force2D along each axis) and on seeded random cases, plus the edge cases
PyRadiomics handles specially (flat region, angles without pairs, no pairs at all, no valid angle, repeated
distances, deprecated names), the memory layouts PyRadiomics' array can take, and every internal
path of the native code (which must agree bit for bit).
"""

from __future__ import annotations

import functools

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

from MIRVLib.engine import glcm
from MIRVLib.engine.region import Region

BASE = {"binWidth": 25, "label": 1}
SDIST_VARIANTS = {
    "default": {},
    "binWidth10": {"binWidth": 10},
    "binCount32": {"binCount": 32},
    "distances12": {"distances": [1, 2]},
    "asymmetric": {"symmetricalGLCM": False},
    "manhattan": {"weightingNorm": "manhattan"},
    "euclidean": {"weightingNorm": "euclidean"},
    "infinity_asymmetric": {"weightingNorm": "infinity", "symmetricalGLCM": False},
    "no_weighting_distances13": {"weightingNorm": "no_weighting", "distances": [1, 3]},
    "unknown_norm": {"weightingNorm": "chebyshev"},
    "force2D_0": {"force2D": True, "force2Ddimension": 0},
    "force2D_1": {"force2D": True, "force2Ddimension": 1},
    "force2D_2_distances12": {"force2D": True, "force2Ddimension": 2, "distances": [1, 2]},
    "force2D_off_dimension_ignored": {"force2D": False, "force2Ddimension": 2},
}
RANDOM_VARIANTS = [
    {},
    {"distances": [1, 2]},
    {"symmetricalGLCM": False},
    {"weightingNorm": "manhattan"},
    {"weightingNorm": "infinity"},
    {"force2D": True, "force2Ddimension": 0},
    {"force2D": True, "force2Ddimension": 1},
    {"force2D": True, "force2Ddimension": 2},
]


# (image, mask, settings, context, names=None): on an already cropped pair, or cropping first.
_compare_cropped = functools.partial(compare_class, glcm, "glcm", cropped=True)
_compare = functools.partial(compare_class, glcm, "glcm")


def _image(array, spacing=(1.0, 1.0, 1.0)) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    return image


@pytest.mark.parametrize(
    "shape", [(3, 26, 24), (1, 5, 7), (6, 1, 4), (5, 1, 1), (2, 2, 2), (4, 6, 5), (7, 3, 9)]
)
def test_angles_are_pyradiomics_angles(shape):
    from radiomics import cMatrices

    for distances in ([1], [2], [1, 2], [3, 1], [2, 2], [1, 1], [1, 2, 3], [1.9]):
        for force2d, dimension in ((False, 0), (True, 0), (True, 1), (True, 2)):
            context = f"{shape} {distances} force2D={force2d} {dimension}"
            try:
                expected = cMatrices.generate_angles(np.array(shape), np.array(distances), False, force2d, dimension)
            except RuntimeError:
                with pytest.raises(RuntimeError):
                    glcm.angles(shape, distances, dimension if force2d else -1)
                continue
            got = glcm.angles(shape, distances, dimension if force2d else -1)
            np.testing.assert_array_equal(got, expected, err_msg=context)


@pytest.mark.parametrize("chunk", [None, 40])
def test_counts_are_pyradiomics_counts(chunk, monkeypatch):
    """The raw matrices equal PyRadiomics' C ``calculate_glcm`` (with empty levels kept) on random volumes, and so
    do the sparse non-empty cells the features are computed from.

    ``chunk`` forces the large-ROI path that looks the angles up a few at a time.
    """
    if chunk is not None:
        monkeypatch.setattr(glcm, "_CHUNK", chunk)
    from radiomics import cMatrices

    rng = np.random.default_rng(7)
    for index in range(12):
        shape = tuple(int(n) for n in rng.integers(1, 9, size=3))
        mask = rng.random(shape) < rng.choice([0.3, 0.7, 1.0])
        mask.flat[0] = True
        levels = np.where(mask, rng.integers(1, rng.integers(2, 12), size=shape), 0)
        distances = [[1], [1, 2], [2, 3]][index % 3]
        force2d = index % 4 == 3
        region = Region(levels.astype(float), mask, (1.0, 1.0, 1.0), {})
        region.__dict__["gray_levels"] = levels  # already binned
        context = f"volume {index} {shape} {distances} force2D={force2d}"
        try:
            expected, offsets = cMatrices.calculate_glcm(
                levels, mask, np.array(distances), int(levels.max()), force2d, 0
            )
        except RuntimeError:
            with pytest.raises(RuntimeError):
                glcm.angles(shape, distances, 0 if force2d else -1)
            continue
        got_offsets = glcm.angles(shape, distances, 0 if force2d else -1)
        np.testing.assert_array_equal(got_offsets, offsets, err_msg=context)
        np.testing.assert_array_equal(glcm.cooccurrences(region, got_offsets), expected[0], err_msg=context)
        _assert_cell_counts(levels, mask, expected[0], got_offsets, context, monkeypatch)


def _assert_cell_counts(levels, mask, expected, offsets, context, monkeypatch):
    """The sparse counts the features use: PyRadiomics' matrices without empty levels, (a)symmetric, exactly."""
    present = np.unique(levels[mask])
    rank = np.zeros(levels.max() + 1, dtype=np.intp)
    rank[present] = np.arange(1, present.size + 1)
    compact = expected[np.ix_(present - 1, present - 1)].transpose(2, 0, 1)  # (angle, i, j)
    for symmetric in (False, True):
        matrices = compact + compact.transpose(0, 2, 1) if symmetric else compact
        cells = np.flatnonzero(matrices)
        for table_cells in (0, 1 << 30):  # pair codes sorted, or counted into dense tables
            monkeypatch.setattr(glcm, "_TABLE_CELLS_PER_LOOKUP", table_cells)
            codes, counts = glcm._cell_counts(rank[levels], present.size, offsets, symmetric)
            np.testing.assert_array_equal(codes, cells, err_msg=f"{context} {symmetric} {table_cells}")
            np.testing.assert_array_equal(counts, matrices.ravel()[cells], err_msg=f"{context} {symmetric}")


@pytest.mark.parametrize("case", SDIST_CASES)
def test_sdist_cases_match_pyradiomics(case):
    image, mask = sdist_crop(case)
    for variant, settings in SDIST_VARIANTS.items():
        _compare_cropped(image, mask, {**BASE, **settings}, f"{case} {variant}")


def _coarse(settings: dict) -> dict:
    """The case's settings with bins of at least 15 HU: PyRadiomics' own GLCM (MCC) is cubic in the number of levels.

    The random CT values span ~1200 HU, so a 5 HU bin width gives ~200 levels and seconds per PyRadiomics run.
    Fine bins keep their own (slow) test below.
    """
    if "binWidth" in settings and settings["binWidth"] < 15:
        return {**settings, "binWidth": 15.0}
    return settings


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_cases_match_pyradiomics(seed):
    """Every random case with its own settings, and with one GLCM setting variant (rotating over the cases)."""
    for index, (name, image, mask, settings) in enumerate(random_cases(seed)):
        settings = _coarse(settings)
        cropped = crop(image, mask, settings)
        _compare_cropped(*cropped, settings, f"seed {seed} {name}")
        variant = RANDOM_VARIANTS[(seed * 5 + index) % len(RANDOM_VARIANTS)]
        _compare_cropped(*cropped, {**settings, **variant}, f"seed {seed} {name} {variant}")


@pytest.mark.slow
def test_random_cases_fine_bins_and_every_variant():
    """Random cases as generated (up to ~200 gray levels) and every variant on one seed."""
    for seed in (0, 1):
        for name, image, mask, settings in random_cases(seed):
            _compare(image, mask, settings, f"seed {seed} {name} as generated")
    for name, image, mask, settings in random_cases(4):
        settings = _coarse(settings)
        cropped = crop(image, mask, settings)
        for variant in RANDOM_VARIANTS[1:]:
            _compare_cropped(*cropped, {**settings, **variant}, f"seed 4 {name} {variant}")


def test_flat_region():
    """One gray level: Correlation 1, IMC1/IMC2 0, MCC 1 (PyRadiomics' arbitrary values), with and without weighting."""
    mask = np.zeros((5, 6, 7), dtype=np.uint8)
    mask[1:4, 1:5, 2:6] = 1
    image = _image(np.full(mask.shape, 40, dtype=np.int16))
    for settings in ({}, {"weightingNorm": "euclidean"}, {"symmetricalGLCM": False}):
        _compare(image, _image(mask), {**BASE, **settings}, f"flat {settings}")


def test_voxels_without_neighbours():
    """ROIs whose voxels touch in no angle at all (NaN everywhere, MCC raising), or only in some angles."""
    rng = np.random.default_rng(3)
    image = _image(rng.integers(-100, 200, size=(5, 6, 7)).astype(np.int16), (0.8, 0.8, 2.0))
    apart = np.zeros((5, 6, 7), dtype=np.uint8)
    apart[1, 1, 1] = apart[3, 4, 5] = apart[1, 4, 1] = 1
    diagonal = np.zeros((5, 6, 7), dtype=np.uint8)
    diagonal[2, 2, 2] = diagonal[2, 3, 3] = diagonal[3, 4, 4] = 1
    flat = _image(np.full((5, 6, 7), 30, dtype=np.int16), (0.8, 0.8, 2.0))
    _compare(flat, _image(apart, (0.8, 0.8, 2.0)), dict(BASE), "apart, one gray level (MCC 1 without any angle)")
    for label, mask in (("apart", apart), ("diagonal", diagonal)):
        for settings in (
            {},
            {"weightingNorm": "manhattan"},
            {"force2D": True, "force2Ddimension": 1},
            {"force2D": True, "force2Ddimension": 0, "weightingNorm": "infinity"},
            {"symmetricalGLCM": False, "distances": [2]},
        ):
            _compare(image, _image(mask, (0.8, 0.8, 2.0)), {**BASE, **settings}, f"{label} {settings}")


def test_two_level_patterns():
    """Checkerboard (bipartite GLCM: MCC's second eigenvalue is 1) and stripes (tiny or zero MCC eigenvalues)."""
    z, y, x = np.indices((6, 8, 9))
    mask = _image(np.ones((6, 8, 9), dtype=np.uint8))
    for label, array in (
        ("checkerboard", (z + y + x) % 2 * 100),
        ("stripes", (x % 2) * 100),
        ("halves", (x >= 4) * 100),
        ("noise", np.random.default_rng(5).integers(0, 2, size=(6, 8, 9)) * 100),
    ):
        for settings in ({}, {"symmetricalGLCM": False}, {"weightingNorm": "euclidean"}):
            _compare(_image(array.astype(np.int16)), mask, {**BASE, **settings}, f"{label} {settings}")


# The native GLCM's internal thresholds, each forced one way then the other: pairs counted into dense tables or
# by sorting their codes, all cells kept or only the non-empty ones, HXY2 formed in small blocks, neighbour
# lookups a few angles at a time. Every way must give the same values, bit for bit.
INTERNAL_PATHS = [
    {},
    {"_TABLE_CELLS_PER_LOOKUP": 0, "_FULL_FILL": 2.0, "_OUTER_BLOCK": 64, "_CHUNK": 300},
    {"_TABLE_CELLS_PER_LOOKUP": 1 << 30, "_FULL_FILL": 0.0},
]


@pytest.mark.parametrize("case", ["lung1", "breast1"])
def test_internal_paths_agree(case, monkeypatch):
    image, mask = sdist_crop(case)
    for variant in ({}, {"symmetricalGLCM": False}, {"binWidth": 5}):
        settings = {**BASE, **variant}
        names = [name for name, deprecated in glcm.FEATURES.items() if not deprecated]
        if variant.get("binWidth") == 5:
            names.remove("MCC")  # PyRadiomics' MCC is slow with many gray levels
        reference = pyradiomics_class_values("glcm", image, mask, settings, names)
        results = []
        for constants in INTERNAL_PATHS:
            with monkeypatch.context() as patch:
                for constant, value in constants.items():
                    patch.setattr(glcm, constant, value)
                region = region_of(image, mask, settings)
                assert type(glcm._glcm(region)).__name__ == "_CellGlcm"
                native = glcm.compute(region, names)
            assert_features_close(native, reference, f"{case} {variant} {constants}")
            results.append(list(native.values()))
        for other in results[1:]:
            np.testing.assert_array_equal(other, results[0], err_msg=f"{case} {variant}")


def test_layouts_pyradiomics_leaves():
    """PyRadiomics' GLCM array is C-ordered after removing exactly one empty gray level or exactly one empty
    angle (else j is outermost in memory, which changes NumPy's summation order); two or more empty angles
    take the dense route."""
    rng = np.random.default_rng(11)
    one_empty_level = rng.choice([0, 25, 75], size=(6, 7, 8)).astype(np.int16)  # levels 1, 2 and 4
    full = _image(np.ones((6, 7, 8), dtype=np.uint8))
    two_levels = rng.choice([10, 30], size=(4, 4, 4)).astype(np.int16)  # levels 1 and 2
    two_levels[1, 1, 1], two_levels[1, 1, 2] = 10, 30
    cube = _image(two_levels)
    one_empty_angle = np.zeros((4, 4, 4), dtype=np.uint8)
    one_empty_angle[1:3, 1:3, 1:3] = 1
    one_empty_angle[2, 2, 2] = 0  # the 2 x 2 x 2 cube's only pair along (1, 1, 1) is gone
    two_empty_angles = one_empty_angle.copy()
    two_empty_angles[1, 2, 2] = 0  # and its only pair along (1, -1, -1)
    cases = (
        ("one empty level", _image(one_empty_level), full, "_CellGlcm", 13),
        ("one empty angle", cube, _image(one_empty_angle), "_CellGlcm", 12),
        ("two empty angles", cube, _image(two_empty_angles), "_DenseGlcm", None),
    )
    for label, image, mask, kind, n_angles in cases:
        for settings in ({**BASE}, {**BASE, "symmetricalGLCM": False}):
            cropped = crop(image, mask, settings)
            region = region_of(*cropped, settings)
            representation = glcm._glcm(region)
            assert type(representation).__name__ == kind, label
            if n_angles is not None:
                assert not representation.transposed and representation.n_angles == n_angles, label
                assert (region.max_level - region.present_levels.size == 1) == (n_angles == 13), label
            _compare_cropped(*cropped, settings, f"{label} {settings}")


def test_distances_edge_cases():
    image, mask = sdist_crop("breast1")  # a 3-slice crop
    for distances in ([1, 1], [3], [2, 5], [1.7]):
        _compare_cropped(image, mask, {**BASE, "distances": distances}, f"distances {distances}")
    for distances in ([0], [-1], [40]):  # no valid angle: PyRadiomics' C code raises, so does the native class
        with pytest.raises(RuntimeError):
            pyradiomics_class_values("glcm", image, mask, {**BASE, "distances": distances})
        with pytest.raises(RuntimeError):
            glcm.compute(region_of(image, mask, {**BASE, "distances": distances}), ["Contrast"])
    with pytest.raises(ValueError):
        glcm.compute(region_of(image, mask, {**BASE, "distances": 1}), ["Contrast"])


def test_requested_names_order_and_deprecated():
    image, mask = sdist_crop("lung1")
    names = ["SumVariance", "MCC", "Dissimilarity", "Idmn", "JointAverage", "Homogeneity1", "Autocorrelation"]
    _compare_cropped(image, mask, dict(BASE), "named", names)
    assert list(glcm.compute(region_of(image, mask, BASE), ["Homogeneity2", "SumVariance"])) == []
