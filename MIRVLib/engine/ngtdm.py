"""Neighbouring Gray Tone Difference Matrix (NGTDM) features, as PyRadiomics' ``ngtdm`` class defines them.

For every ROI voxel of gray level ``i`` the matrix adds one to ``n_i`` and adds ``|i - mean of its ROI
neighbours|`` to ``s_i`` (0 when no neighbour is in the ROI). The neighbourhood is the list of offsets PyRadiomics'
C extension generates for the ``distances`` setting (Chebyshev distance, optionally restricted to a plane by
``force2D``/``force2Ddimension``), including its quirk that a repeated distance repeats offsets. Instead of
visiting voxels one by one, the neighbours' level sums and counts of the whole crop come from separable box sums
(or, for the rare uneven neighbourhood, one weighted shifted copy per offset) in integer arithmetic: they are
exact, so the per-voxel difference is bit-identical to PyRadiomics'. NumPy only: importing SciPy would cost more
than the class itself.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from MIRVLib.engine.features import angle_candidates, evaluate, force2d_dimension
from MIRVLib.engine.region import Region

# Feature name -> deprecated, in PyRadiomics' getFeatureNames() order.
FEATURES: dict[str, bool] = {
    "Busyness": False,
    "Coarseness": False,
    "Complexity": False,
    "Contrast": False,
    "Strength": False,
}


@dataclass(frozen=True)
class Neighbourhood:
    """The neighbour offsets of one crop shape and setting, and how to sum over them.

    ``offsets`` are distinct, ``weights`` how often PyRadiomics' angle list holds each. ``shells`` is set when all
    weights are equal (always, unless a distance is repeated): the neighbourhood is then ``weight`` times a union
    of Chebyshev shells, written as signed boxes ``(radius, sign)`` (shell d = box d - box d-1).
    """

    offsets: np.ndarray
    weights: np.ndarray
    plane_axis: int
    shells: tuple[tuple[int, int], ...] | None

    @property
    def weight_total(self) -> int:
        return int(self.weights.sum())


def neighbourhood(shape: Sequence[int], settings: Mapping[str, Any]) -> Neighbourhood:
    """PyRadiomics' NGTDM neighbourhood for a crop of ``shape`` (NumPy order) under ``settings``.

    PyRadiomics counts the angles per requested distance (offsets whose largest component is that distance,
    bounded by the crop size, none moving out of the forced 2D plane) and then walks the offset combinations
    cyclically until it has that many, so a repeated distance repeats (part of) the offset list.
    Raises like PyRadiomics for a distance below 1, distances not 1-D, or when no offset fits in the crop.
    """
    distances = np.asarray(settings.get("distances", [1]))
    if distances.ndim != 1:
        raise ValueError("Expecting distances array to be 1-dimensional.")
    # PyRadiomics casts the distances to C int (truncating floats).
    return _neighbourhood(
        tuple(int(n) for n in shape), tuple(int(d) for d in distances.astype(np.intc)), force2d_dimension(settings)
    )


@functools.lru_cache(maxsize=256)
def _neighbourhood(shape: tuple[int, ...], distances: tuple[int, ...], plane_axis: int) -> Neighbourhood:
    offsets, total = angle_candidates(shape, distances, plane_axis)  # total: angle count, repeats included
    rounds, remainder = divmod(total, len(offsets))
    weights = np.full(len(offsets), rounds, dtype=np.int64)
    weights[:remainder] += 1
    weights.flags.writeable = False  # cached: shared between calls

    shells = None
    if remainder == 0:
        # Distances with no offset in the crop only reach outside it; their boxes add nothing, so use all.
        signs: dict[int, int] = {}
        for distance in set(distances):
            signs[distance] = signs.get(distance, 0) + 1
            signs[distance - 1] = signs.get(distance - 1, 0) - 1
        shells = tuple(sorted((radius, sign) for radius, sign in signs.items() if sign))
    return Neighbourhood(offsets, weights, plane_axis, shells)


def _box_sum(padded: np.ndarray, pad: int, radii: Sequence[int]) -> np.ndarray:
    """Sum over the box of per-axis ``radii`` around every voxel of an array zero-padded by ``pad`` on all sides.

    Separable: one axis at a time, adding shifted views (exact for integers); the result is unpadded.
    """
    out = padded
    for axis, radius in enumerate(radii):
        length = padded.shape[axis] - 2 * pad

        def shifted(step: int, source: np.ndarray = out, axis: int = axis, length: int = length) -> np.ndarray:
            window = [slice(None)] * padded.ndim
            window[axis] = slice(pad + step, pad + step + length)
            return source[tuple(window)]

        summed = shifted(-radius).copy() if radius else shifted(0)
        for step in range(-radius + 1, radius + 1):
            summed += shifted(step)
        out = summed
    return out


def neighbour_sums(values: np.ndarray, hood: Neighbourhood) -> np.ndarray:
    """For every voxel, the weighted sum of integer ``values`` at ``voxel + offset`` (nothing beyond the crop)."""
    if hood.shells is not None:
        reach = max(radius for radius, _ in hood.shells)
        padded = np.zeros(tuple(n + 2 * reach for n in values.shape), dtype=values.dtype)
        padded[tuple(slice(reach, reach + n) for n in values.shape)] = values
        total = None
        for radius, sign in hood.shells:
            radii = [0 if axis == hood.plane_axis else radius for axis in range(values.ndim)]
            box = values if radius == 0 else _box_sum(padded, reach, radii)
            term = box if sign == 1 else box * sign
            total = term.copy() if total is None else total.__iadd__(term)
        weight = int(hood.weights[0])
        return total if weight == 1 else total * weight
    # Uneven weights (a repeated distance repeats only part of the offset list): add every offset's shifted
    # copy, weighted, in integer arithmetic (exact).
    reach = int(np.abs(hood.offsets).max())
    padded = np.zeros(tuple(n + 2 * reach for n in values.shape), dtype=values.dtype)
    padded[tuple(slice(reach, reach + n) for n in values.shape)] = values
    total = np.zeros_like(values)
    for offset, weight in zip(hood.offsets.tolist(), hood.weights.tolist()):
        shifted = padded[tuple(slice(reach + step, reach + step + n) for step, n in zip(offset, values.shape))]
        total += shifted if weight == 1 else shifted * weight
    return total


def build_matrix(region: Region) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(levels, n, s)`` of the NGTDM for the gray levels present: level value, voxel count, summed difference."""
    levels = region.gray_levels
    mask = region.mask
    hood = neighbourhood(levels.shape, region.settings)

    # One pass gives both the neighbours' level sum and their count: each ROI voxel carries level * scale + 1
    # (gray_levels is 0 outside the ROI), with scale a power of two above any possible count. The float sum and
    # count PyRadiomics accumulates per voxel are these same integers.
    scale = 2 ** hood.weight_total.bit_length()
    if hood.weight_total * (region.max_level * scale + 1) < 2**53:
        total = neighbour_sums(levels.astype(np.int64) * scale + mask, hood)[mask]
        count = (total % scale).astype(np.float64)
        level_sum = (total // scale).astype(np.float64)
    else:  # huge gray levels or neighbourhoods: level sums and counts separately
        level_sum = neighbour_sums(levels.astype(np.int64), hood)[mask].astype(np.float64)
        count = neighbour_sums(mask.astype(np.int64), hood)[mask].astype(np.float64)

    centre = levels[mask]
    diff = np.zeros(centre.shape, dtype=np.float64)
    has = count != 0
    diff[has] = np.abs(centre[has] - level_sum[has] / count[has])

    n = np.bincount(centre, minlength=region.max_level + 1)
    s = np.bincount(centre, weights=diff, minlength=region.max_level + 1)
    present = np.flatnonzero(n)
    present = present[present > 0]
    return present.astype(np.float64), n[present].astype(np.float64), s[present]


class _Coefficients:
    """The matrix normalised as PyRadiomics' coefficients: p_i, s_i, i, N_vp, N_gp and pairwise tables."""

    def __init__(self, region: Region):
        self.i, n, self.s = build_matrix(region)
        self.nvp = np.sum(n)
        self.p = n / self.nvp
        self.ngp = len(self.i)
        self.ps = self.p * self.s
        self.i_diff = self.i[:, None] - self.i[None, :]


def _coarseness(c: _Coefficients) -> float:
    total = np.sum(c.ps)
    return 1.0 / total if total != 0 else 1e6


def _contrast(c: _Coefficients) -> float:
    div = c.ngp * (c.ngp - 1)
    if div == 0:
        return 0.0
    spread = np.sum(c.p[:, None] * c.p[None, :] * c.i_diff**2)
    return spread * np.sum(c.s) / c.nvp / div


def _busyness(c: _Coefficients) -> float:
    ip = c.i * c.p
    denominator = np.sum(np.abs(ip[:, None] - ip[None, :]))
    if denominator == 0:
        return 0.0
    return np.sum(c.ps) / denominator


def _complexity(c: _Coefficients) -> float:
    numerator = c.ps[:, None] + c.ps[None, :]
    divisor = c.p[:, None] + c.p[None, :]
    return np.sum(np.abs(c.i_diff) * numerator / divisor) / c.nvp


def _strength(c: _Coefficients) -> float:
    total_s = np.sum(c.s)
    if total_s == 0:
        return 0.0
    return np.sum((c.p[:, None] + c.p[None, :]) * c.i_diff**2) / total_s


_FUNCTIONS: dict[str, Callable[[_Coefficients], float]] = {
    "Busyness": _busyness,
    "Coarseness": _coarseness,
    "Complexity": _complexity,
    "Contrast": _contrast,
    "Strength": _strength,
}


def compute(region: Region, names: Sequence[str]) -> dict[str, float]:
    """The requested NGTDM features of ``region``, in the order of ``names``.

    The matrix is built once. Errors building it propagate (PyRadiomics raises from the class too); a feature
    whose own computation fails is NaN.
    """
    return evaluate(names, FEATURES, _FUNCTIONS, lambda: _Coefficients(region), skip_deprecated=True)
