"""Gray Level Dependence Matrix features: PyRadiomics' ``gldm`` class, computed natively with NumPy.

A neighbour at one of PyRadiomics' angles (all offsets whose infinity norm is one of ``distances``, both
directions, none moving along an axis too short for it nor, with ``force2D``, along ``force2Ddimension``) is
dependent on a ROI voxel when it lies in the ROI and their gray levels differ by at most ``gldm_a``. The GLDM
counts ROI voxels per (gray level, number of dependent neighbours), as ``calculate_gldm`` in cmatrices.c.

The volume is zero-padded by the largest offset along each axis and flattened, so an offset is a constant
flat step that reaches the neighbour or a padding voxel (outside the ROI) and never wraps around. Each pair
of opposite angles is one vectorised comparison of the flat volume with itself shifted, credited to both
voxels of every dependent pair; ``np.bincount`` then fills the matrix.

The features follow ``radiomics/gldm.py``: rows of gray levels absent from the ROI and columns of dependence
counts that never occur are dropped, and ``Nz`` is the number of ROI voxels.
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Sequence

import numpy as np

from MIRVLib.engine.features import ZoneCoefficients, angle_candidates, evaluate, force2d_dimension, level_dtype
from MIRVLib.engine.region import Region

logger = logging.getLogger(__name__)

# Every feature PyRadiomics' RadiomicsGLDM defines -> deprecated?; alphabetical = PyRadiomics' default order.
FEATURES: dict[str, bool] = {
    "DependenceEntropy": False,
    "DependenceNonUniformity": False,
    "DependenceNonUniformityNormalized": False,
    "DependencePercentage": True,  # always 1
    "DependenceVariance": False,
    "GrayLevelNonUniformity": False,
    "GrayLevelNonUniformityNormalized": True,  # equals firstorder Uniformity
    "GrayLevelVariance": False,
    "HighGrayLevelEmphasis": False,
    "LargeDependenceEmphasis": False,
    "LargeDependenceHighGrayLevelEmphasis": False,
    "LargeDependenceLowGrayLevelEmphasis": False,
    "LowGrayLevelEmphasis": False,
    "SmallDependenceEmphasis": False,
    "SmallDependenceHighGrayLevelEmphasis": False,
    "SmallDependenceLowGrayLevelEmphasis": False,
}


# ---------------------------------------------------------------- angles
def angles(shape: Sequence[int], distances: Sequence[int], force2d_dimension: int = -1) -> np.ndarray:
    """PyRadiomics' neighbour offsets (both directions) for a crop of ``shape``, as ``build_angles`` lists them.

    Offsets run from +max to -max per axis, the first axis slowest; an offset is valid when it is not longer
    than the axis allows (|offset| < size), does not move along ``force2d_dimension``, and its infinity norm
    is one of ``distances``. PyRadiomics asks for as many angles as the distances count (a repeated distance
    counts twice) and reads the valid offsets cyclically until it has them, so a repeated distance repeats
    offsets; this is reproduced. Invalid distances or no possible angle raise as PyRadiomics does.
    """
    distances = np.asarray(distances)
    if distances.ndim != 1:
        raise ValueError("Expecting distances array to be 1-dimensional.")
    # PyRadiomics casts to C int (truncating)
    candidates, count = angle_candidates(shape, tuple(distances.astype(np.intc).tolist()), force2d_dimension)
    return candidates[np.arange(count) % len(candidates)]


# ---------------------------------------------------------------- matrix
@functools.lru_cache(maxsize=64)
def _pair_plan(
    shape: tuple[int, ...], distances: tuple[int, ...], force2d_dimension: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The angles grouped into opposite pairs: (forward offsets, times each occurs forward, backward, padding).

    Forward = first non-zero component positive; the padding is the largest offset along each axis.
    """
    offsets = angles(shape, distances, force2d_dimension)
    first = offsets[np.arange(len(offsets)), np.argmax(offsets != 0, axis=1)]
    forward = np.where((first > 0)[:, None], offsets, -offsets)
    pairs, pair_of = np.unique(forward, axis=0, return_inverse=True)
    pair_of = pair_of.ravel()
    n_ahead = np.bincount(pair_of[first > 0], minlength=len(pairs))
    n_behind = np.bincount(pair_of[first < 0], minlength=len(pairs))
    return pairs, n_ahead, n_behind, np.abs(offsets).max(axis=0)


def dependences(region: Region) -> np.ndarray:
    """Number of dependent neighbours of every ROI voxel (C order of the crop)."""
    settings = region.settings
    alpha = operator.index(settings.get("gldm_a", 0))  # an integer in PyRadiomics' C call
    distances = np.asarray(settings.get("distances", [1]))
    if distances.ndim != 1:
        raise ValueError("Expecting distances array to be 1-dimensional.")
    levels = region.gray_levels
    pairs, n_ahead, n_behind, pad = _pair_plan(
        tuple(levels.shape), tuple(distances.astype(np.intc).tolist()), force2d_dimension(settings)
    )

    n_levels = region.max_level
    alpha = min(alpha, n_levels)  # every pair of ROI levels is dependent beyond that
    padded_shape = tuple(size + 2 * int(p) for size, p in zip(levels.shape, pad))
    padded = np.zeros(padded_shape, dtype=level_dtype(n_levels, signed=True))  # signed: level differences
    padded[tuple(slice(int(p), int(p) + size) for size, p in zip(levels.shape, pad))] = levels
    flat = padded.ravel()
    n_flat = flat.size
    roi = flat > 0
    strides = np.array(padded.strides) // padded.itemsize
    count = np.zeros(n_flat, dtype=np.int32)
    for pair, ahead, behind in zip(pairs, n_ahead.tolist(), n_behind.tolist()):
        step = int(np.dot(pair, strides))
        n = n_flat - step
        if alpha == 0:
            dependent = flat[:n] == flat[step:]
            dependent &= roi[:n]  # equal levels: the neighbour is in the ROI too
        else:
            dependent = np.abs(flat[:n] - flat[step:]) <= alpha
            dependent &= roi[:n]
            dependent &= roi[step:]
        if ahead:
            count[:n] += dependent if ahead == 1 else ahead * dependent
        if behind:
            count[step:] += dependent if behind == 1 else behind * dependent
    return count[roi]


def dependence_matrix(region: Region) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PyRadiomics' GLDM after its clean-up: (P, gray levels, dependence sizes = dependent neighbours + 1).

    ``P[i, j]`` counts ROI voxels of the i-th gray level present with the j-th dependence size that occurs.
    """
    dependent = dependences(region)
    levels = region.gray_levels[region.mask]  # same C order as the flat ROI voxels
    present = region.present_levels
    row_of_level = np.zeros(region.max_level + 1, dtype=np.intp)
    row_of_level[present] = np.arange(present.size)
    n_columns = int(dependent.max()) + 1
    counts = np.bincount(row_of_level[levels] * n_columns + dependent, minlength=present.size * n_columns)
    matrix = counts.reshape(present.size, n_columns)
    used = np.flatnonzero(matrix.any(axis=0))  # dependence sizes that occur
    return matrix[:, used].astype(np.float64), present.astype(np.float64), used.astype(np.float64) + 1


# ---------------------------------------------------------------- features
def _coefficients(region: Region) -> ZoneCoefficients:
    """The GLDM's shared sums; ``Nz`` is the number of ROI voxels (one dependence each)."""
    return ZoneCoefficients(*dependence_matrix(region))


_FORMULAS = {
    "SmallDependenceEmphasis": ZoneCoefficients.small_emphasis,
    "LargeDependenceEmphasis": ZoneCoefficients.large_emphasis,
    "GrayLevelNonUniformity": ZoneCoefficients.level_non_uniformity,
    "DependenceNonUniformity": ZoneCoefficients.size_non_uniformity,
    "DependenceNonUniformityNormalized": ZoneCoefficients.size_non_uniformity_normalized,
    "GrayLevelVariance": ZoneCoefficients.level_variance,
    "DependenceVariance": ZoneCoefficients.size_variance,
    "DependenceEntropy": ZoneCoefficients.entropy,
    "LowGrayLevelEmphasis": ZoneCoefficients.low_level_emphasis,
    "HighGrayLevelEmphasis": ZoneCoefficients.high_level_emphasis,
    "SmallDependenceLowGrayLevelEmphasis": ZoneCoefficients.small_low_level_emphasis,
    "SmallDependenceHighGrayLevelEmphasis": ZoneCoefficients.small_high_level_emphasis,
    "LargeDependenceLowGrayLevelEmphasis": ZoneCoefficients.large_low_level_emphasis,
    # PyRadiomics multiplies j^2 i^2 first here (GLSZM: P i^2 first); kept for bit-identical sums.
    "LargeDependenceHighGrayLevelEmphasis": lambda c: (c.P * (c.j2 * c.i2[:, None])).sum() / c.Nz,
}


def compute(region: Region, names: Sequence[str]) -> dict[str, float]:
    """The requested GLDM features of ``region`` in the order of ``names``; deprecated names are left out.

    A feature whose computation raises is NaN; an unknown name raises ``LookupError`` as in PyRadiomics, and
    settings PyRadiomics' matrix rejects (a distance below 1, no possible angle, a non-integer ``gldm_a``)
    raise the same exception type as there.
    """
    return evaluate(names, FEATURES, _FORMULAS, lambda: _coefficients(region), skip_deprecated=True, logger=logger,
                    label="GLDM")
