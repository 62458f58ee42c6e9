"""Gray Level Size Zone Matrix features: PyRadiomics' ``glszm`` class, computed natively with NumPy.

A zone is a connected set of ROI voxels sharing one gray level; voxels connect when they are neighbours in
the infinity norm (26-connectivity in 3D, 8 in 2D), never across an axis of size 1 nor, with ``force2D``,
across ``force2Ddimension`` (PyRadiomics' ``calculate_glszm`` grows zones along its distance-1 angles).

All zones are found at once instead of labelling every gray level separately. The zero-padded gray-level
volume is flattened and cut into runs: maximal stretches of one gray level along the last connecting axis
(one comparison of the flat volume with itself shifted by one). Two runs of one level on neighbouring lines
touch exactly when one holds the voxel diagonally before, or straight across from, the other's first voxel, so
probing three voxels per run start and neighbouring line links all touching runs, each pair once. A vectorised
union-find (hooking roots, then pointer jumping) joins linked runs into zones, and ``np.bincount`` counts zones
per (gray level, size). No SciPy: importing it would cost more than the whole GLSZM of a typical lesion.

The features follow ``radiomics/glszm.py``: rows of gray levels absent from the ROI and columns of zone sizes
that never occur are dropped, ``Nz`` is the number of zones and ``Np`` the number of ROI voxels.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
from collections.abc import Sequence

import numpy as np

from MIRVLib.engine import features
from MIRVLib.engine.features import ZoneCoefficients, evaluate, level_dtype, none_deprecated
from MIRVLib.engine.region import Region

logger = logging.getLogger(__name__)

# Most probe positions handled in one vectorised step (8 bytes each): bounds the memory of huge, busy crops.
_PROBE_BUDGET = 1 << 21

# Every feature PyRadiomics' RadiomicsGLSZM defines -> deprecated? (none is); alphabetical = PyRadiomics' default order.
FEATURES: dict[str, bool] = none_deprecated(
    "GrayLevelNonUniformity",
    "GrayLevelNonUniformityNormalized",
    "GrayLevelVariance",
    "HighGrayLevelZoneEmphasis",
    "LargeAreaEmphasis",
    "LargeAreaHighGrayLevelEmphasis",
    "LargeAreaLowGrayLevelEmphasis",
    "LowGrayLevelZoneEmphasis",
    "SizeZoneNonUniformity",
    "SizeZoneNonUniformityNormalized",
    "SmallAreaEmphasis",
    "SmallAreaHighGrayLevelEmphasis",
    "SmallAreaLowGrayLevelEmphasis",
    "ZoneEntropy",
    "ZonePercentage",
    "ZoneVariance",
)


# ---------------------------------------------------------------- zones
def connecting_axes(shape: Sequence[int], force2d_dimension: int = -1) -> list[int]:
    """Axes along which PyRadiomics' zone growing moves: size > 1 and not the ``force2D`` axis.

    Raises when there is none (PyRadiomics' "Error getting angle count" from its angle generator).
    """
    axes = [axis for axis, size in enumerate(shape) if size > 1 and axis != force2d_dimension]
    if not axes:
        raise RuntimeError("Error getting angle count.")
    return axes


@functools.lru_cache(maxsize=64)
def _line_steps(padded_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Flat steps from a line (along the last axis) to its forward neighbouring lines, over all axes of
    ``padded_shape`` but the first (the batch) and the last. Forward = first non-zero component positive.
    """
    strides = np.cumprod((1,) + padded_shape[:1:-1])[::-1][:-1]  # strides of the axes between batch and last
    return tuple(
        int(np.dot(offset, strides))
        for offset in itertools.product((-1, 0, 1), repeat=len(strides))
        if any(offset) and next(o for o in offset if o) > 0
    )


def _components(n_nodes: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Connected components of the graph with edges ``first[k] -- second[k]``: every node's smallest member.

    Union-find in whole-array steps. A round hooks roots onto smaller roots along the edges not yet inside
    one tree, then pointer jumping makes every node point to its root again; a root only ever points to a
    smaller index, so no cycle forms. Round one hooks with a plain assignment (one of several edges on a
    root wins, the rest wait); later rounds hook every root onto its smallest neighbouring root
    (``np.minimum.at``), so a root touching many others cannot stall progress to one link per round. Few,
    small rounds follow the first; with no SciPy this is faster than building a sparse graph.
    """
    parent = np.arange(n_nodes, dtype=np.intp)
    low = np.minimum(first, second)
    high = np.maximum(first, second)
    parent[high] = low  # round one: every node is its own root
    while True:
        while True:  # pointer jumping, two hops at a time, until every node points to its root
            grand = parent[parent]
            grand = grand[grand]
            if np.array_equal(grand, parent):
                break
            parent = grand
        low_root = parent[low]
        high_root = parent[high]
        unjoined = np.flatnonzero(low_root != high_root)
        if not unjoined.size:
            return parent
        low = low[unjoined]
        high = high[unjoined]
        low_root = low_root[unjoined]
        high_root = high_root[unjoined]
        np.minimum.at(parent, np.maximum(low_root, high_root), np.minimum(low_root, high_root))


def zones(levels: np.ndarray, force2d_dimension: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Gray level and size (voxel count) of every zone of ``levels`` (int, 0 outside the ROI, >= 1 inside).

    The axes along which nothing connects are moved to the front and flattened into one batch axis; the
    connecting axes are zero-padded by one voxel, so in the flattened volume a constant step reaches a voxel's
    neighbour or a zero (outside the ROI, so never linked) and never wraps into another line or batch.
    """
    axes = connecting_axes(levels.shape, force2d_dimension)
    others = [axis for axis in range(levels.ndim) if axis not in axes]
    if others:
        levels = np.transpose(levels, others + axes)
    batch = math.prod(levels.shape[: len(others)])
    padded_shape = (batch,) + tuple(size + 2 for size in levels.shape[len(others) :])
    padded = np.zeros(padded_shape, dtype=level_dtype(int(levels.max())))
    padded[(slice(None),) + (slice(1, -1),) * len(axes)] = levels.reshape((batch,) + levels.shape[len(others) :])
    flat = padded.ravel()

    # Segments: maximal stretches of one value of the flat volume. flat[0] is padding, so the segment from 0
    # is outside the ROI and every other one starts where the value changes; the ROI's segments are the runs
    # (the padding ends every line).
    segment_starts = np.flatnonzero(flat[1:] != flat[:-1])
    segment_starts += 1
    if not segment_starts.size:  # empty ROI
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    segment_lengths = np.empty(segment_starts.size, dtype=np.intp)
    np.subtract(segment_starts[1:], segment_starts[:-1], out=segment_lengths[:-1])
    segment_lengths[-1] = flat.size - segment_starts[-1]
    segment_levels = flat[segment_starts]
    is_run = segment_levels > 0
    run_starts = segment_starts[is_run]
    run_levels = segment_levels[is_run]
    run_lengths = segment_lengths[is_run]
    line_steps = _line_steps(padded_shape)
    if not line_steps:  # one connecting axis: every run is a zone
        return run_levels.astype(np.intp), run_lengths

    # Links. Runs A = [a0, a1] and B = [b0, b1] of one level, B on a forward neighbouring line (flat step
    # ``line``), touch iff b0 <= a1 + 1 and a0 <= b1 + 1; then exactly one of these holds: a0 - 1 lies in B,
    # or b0 == a0 (a0 lies in B but a0 - 1 does not), or b0 - 1 lies in A (b0 > a0). So probing those three
    # voxels from every run start (a zero or another level means no link) finds each touching pair once.
    n_runs = run_starts.size
    steps = np.array([(line - 1, line, -line - 1) for line in line_steps], dtype=np.intp)  # (line, probe)
    lines_at_once = max(1, _PROBE_BUDGET // (3 * n_runs))
    sources, probes = [], []
    for first in range(0, len(line_steps), lines_at_once):
        probed = run_starts + steps[first : first + lines_at_once, :, None]  # (line, probe, run)
        hits = flat[probed] == run_levels
        hits[:, 1] &= ~hits[:, 0]  # b0 == a0 only when a0 - 1 is not in B
        found = np.flatnonzero(hits)
        sources.append(found - (found // n_runs) * n_runs)  # the run probed from (// is cheaper than %)
        probes.append(probed.ravel()[found])
    source = np.concatenate(sources)
    if not source.size:  # no links: every run is a zone
        return run_levels.astype(np.intp), run_lengths
    # The run holding each probed voxel, from the run index of every flat position after the first segment.
    run_of_segment = np.zeros(segment_starts.size, dtype=np.intp)
    run_of_segment[is_run] = np.arange(n_runs)
    run_of_position = np.repeat(run_of_segment, segment_lengths)
    probe = np.concatenate(probes)
    probe -= segment_starts[0]
    target = run_of_position[probe]

    root = _components(n_runs, source, target)
    is_root = root == np.arange(n_runs)
    zone_levels = run_levels[is_root].astype(np.intp)
    zone_of_root = np.zeros(n_runs, dtype=np.intp)
    zone_of_root[is_root] = np.arange(zone_levels.size)
    sizes = np.bincount(zone_of_root[root], weights=run_lengths, minlength=zone_levels.size)
    return zone_levels, sizes.astype(np.intp)


def size_zone_matrix(region: Region) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PyRadiomics' GLSZM after its clean-up: (P, gray levels, zone sizes).

    ``P[i, j]`` counts the zones of the i-th gray level present in the ROI with the j-th zone size that occurs;
    gray levels absent from the ROI and sizes no zone has are left out, as PyRadiomics deletes them.
    """
    settings = region.settings
    force2d_dimension = features.force2d_dimension(settings)
    zone_levels, zone_sizes = zones(region.gray_levels, force2d_dimension)
    present = region.present_levels
    sizes, column = np.unique(zone_sizes, return_inverse=True)
    row = np.searchsorted(present, zone_levels)
    counts = np.bincount(row * sizes.size + column, minlength=present.size * sizes.size)
    matrix = counts.reshape(present.size, sizes.size).astype(np.float64)
    return matrix, present.astype(np.float64), sizes.astype(np.float64)


# ---------------------------------------------------------------- features
class _Coefficients(ZoneCoefficients):
    """The GLSZM's shared sums (``Nz`` = zones) and ``Np``, the ROI's voxel count."""

    def __init__(self, region: Region):
        super().__init__(*size_zone_matrix(region))
        self.Np = (self.by_size * self.jvector).sum()


_FORMULAS = {
    "SmallAreaEmphasis": _Coefficients.small_emphasis,
    "LargeAreaEmphasis": _Coefficients.large_emphasis,
    "GrayLevelNonUniformity": _Coefficients.level_non_uniformity,
    "GrayLevelNonUniformityNormalized": _Coefficients.level_non_uniformity_normalized,
    "SizeZoneNonUniformity": _Coefficients.size_non_uniformity,
    "SizeZoneNonUniformityNormalized": _Coefficients.size_non_uniformity_normalized,
    "ZonePercentage": lambda c: c.Nz / c.Np,
    "GrayLevelVariance": _Coefficients.level_variance,
    "ZoneVariance": _Coefficients.size_variance,
    "ZoneEntropy": _Coefficients.entropy,
    "LowGrayLevelZoneEmphasis": _Coefficients.low_level_emphasis,
    "HighGrayLevelZoneEmphasis": _Coefficients.high_level_emphasis,
    "SmallAreaLowGrayLevelEmphasis": _Coefficients.small_low_level_emphasis,
    "SmallAreaHighGrayLevelEmphasis": _Coefficients.small_high_level_emphasis,
    "LargeAreaLowGrayLevelEmphasis": _Coefficients.large_low_level_emphasis,
    "LargeAreaHighGrayLevelEmphasis": lambda c: (c.P * c.i2[:, None] * c.j2).sum() / c.Nz,
}


def compute(region: Region, names: Sequence[str]) -> dict[str, float]:
    """The requested GLSZM features of ``region`` in the order of ``names``.

    A feature whose computation raises is NaN; an unknown name raises ``LookupError`` as in PyRadiomics, and a
    crop in which zones cannot grow along any axis raises ``RuntimeError`` as PyRadiomics' matrix does.
    """
    return evaluate(names, FEATURES, _FORMULAS, lambda: _Coefficients(region), skip_deprecated=True, logger=logger,
                    label="GLSZM")
