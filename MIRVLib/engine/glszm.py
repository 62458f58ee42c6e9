"""Gray Level Size Zone Matrix features: PyRadiomics' ``glszm`` class, computed natively with NumPy/SciPy.

A zone is a connected set of ROI voxels sharing one gray level; voxels connect when they are neighbours in
the infinity norm (26-connectivity in 3D, 8 in 2D), never across an axis of size 1 nor, with ``force2D``,
across ``force2Ddimension`` (PyRadiomics' ``calculate_glszm`` grows zones along its distance-1 angles).

All zones are found at once instead of labelling every gray level separately: the zero-padded gray-level
volume is flattened, consecutive equal voxels along the last connecting axis are merged into runs (one
``cumsum``), every other neighbour offset compares the flat volume with itself shifted (one vectorised
comparison per offset) to link runs of the same level, and ``scipy.sparse.csgraph.connected_components``
joins linked runs into zones. ``np.bincount`` then counts zones per (gray level, size).

The features follow ``radiomics/glszm.py``: rows of gray levels absent from the ROI and columns of zone sizes
that never occur are dropped, ``Nz`` is the number of zones and ``Np`` the number of ROI voxels.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Sequence

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from MIRVLib.engine.region import Region

logger = logging.getLogger(__name__)

# Every feature PyRadiomics' RadiomicsGLSZM defines -> deprecated? (none is); alphabetical = PyRadiomics' default order.
FEATURES: dict[str, bool] = {
    name: False
    for name in (
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
}


# ---------------------------------------------------------------- zones
def _level_dtype(n_levels: int) -> np.dtype:
    """The narrowest unsigned type holding gray levels 0..n_levels (comparisons on it are cheapest)."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if n_levels <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def connecting_axes(shape: Sequence[int], force2d_dimension: int = -1) -> list[int]:
    """Axes along which PyRadiomics' zone growing moves: size > 1 and not the ``force2D`` axis.

    Raises when there is none (PyRadiomics' "Error getting angle count" from its angle generator).
    """
    axes = [axis for axis, size in enumerate(shape) if size > 1 and axis != force2d_dimension]
    if not axes:
        raise RuntimeError("Error getting angle count.")
    return axes


@functools.lru_cache(maxsize=64)
def _link_steps(padded_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Flat steps of the forward neighbour offsets over all axes of ``padded_shape`` but the first (the batch),
    except the step along the last axis alone (the runs cover it). Forward = first non-zero component positive.
    """
    strides = np.cumprod((1,) + padded_shape[:1:-1])[::-1]
    return tuple(
        int(np.dot(offset, strides))
        for offset in itertools.product((-1, 0, 1), repeat=len(strides))
        if any(offset[:-1]) and next(o for o in offset if o) > 0
    )


def zones(levels: np.ndarray, force2d_dimension: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Gray level and size (voxel count) of every zone of ``levels`` (int, 0 outside the ROI, >= 1 inside).

    The axes along which nothing connects are moved to the front and flattened into one batch axis; the
    connecting axes are zero-padded by one voxel, so in the flattened volume a constant offset reaches a
    voxel's neighbour or a zero (outside the ROI, so never linked) and never wraps into another line or batch.
    """
    axes = connecting_axes(levels.shape, force2d_dimension)
    others = [axis for axis in range(levels.ndim) if axis not in axes]
    if others:
        levels = np.transpose(levels, others + axes)
    batch = int(np.prod([levels.shape[axis] for axis in range(len(others))]))
    padded_shape = (batch,) + tuple(size + 2 for size in levels.shape[len(others) :])
    padded = np.zeros(padded_shape, dtype=_level_dtype(int(levels.max())))
    padded[(slice(None),) + (slice(1, -1),) * len(axes)] = levels.reshape((batch,) + levels.shape[len(others) :])
    flat = padded.ravel()
    n_flat = flat.size
    roi = flat > 0

    # Runs: maximal stretches of one gray level along the last (contiguous) connecting axis.
    continues = np.zeros(n_flat, dtype=bool)  # same level as the previous flat voxel (padding breaks lines)
    np.equal(flat[1:], flat[:-1], out=continues[1:])
    continues &= roi
    starts = roi & ~continues
    run_of = np.cumsum(starts) - 1  # run index of every ROI voxel
    run_starts = np.flatnonzero(starts)
    run_levels = flat[run_starts].astype(np.intp)
    n_runs = run_starts.size
    ends = roi.copy()
    ends[:-1] &= ~continues[1:]
    run_lengths = np.flatnonzero(ends) - run_starts + 1

    # Links between runs: every other forward neighbour offset.
    sources, targets = [], []
    for step in _link_steps(padded_shape):
        n = n_flat - step
        linked = flat[:n] == flat[step:]
        linked &= roi[:n]
        # A voxel whose run and whose neighbour's run both continue from the previous voxel repeats the
        # previous voxel's link: keep one link per pair of runs and stretch.
        linked[1:] &= ~(linked[:-1] & continues[1:n] & continues[1 + step :])
        voxels = np.flatnonzero(linked)
        sources.append(run_of[voxels])
        targets.append(run_of[voxels + step])
    source = np.concatenate(sources) if sources else np.zeros(0, dtype=np.intp)
    if not source.size:  # no links: every run is a zone
        return run_levels, run_lengths
    # The link graph in compressed-row form (rows = source runs), built directly: cheaper than via COO.
    order = np.argsort(source, kind="stable")  # merges the per-step lists, each already sorted
    index_type = np.int32 if source.size < np.iinfo(np.int32).max else np.int64  # int32: no index down-casting
    row_starts = np.zeros(n_runs + 1, dtype=index_type)
    np.cumsum(np.bincount(source, minlength=n_runs), out=row_starts[1:])
    columns = np.concatenate(targets)[order].astype(index_type)
    graph = sparse.csr_matrix((np.ones(source.size), columns, row_starts), shape=(n_runs, n_runs))
    n_zones, zone_of_run = csgraph.connected_components(graph, directed=True, connection="weak")
    sizes = np.bincount(zone_of_run, weights=run_lengths, minlength=n_zones).astype(np.intp)
    zone_levels = np.empty(n_zones, dtype=np.intp)
    zone_levels[zone_of_run] = run_levels
    return zone_levels, sizes


def size_zone_matrix(region: Region) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PyRadiomics' GLSZM after its clean-up: (P, gray levels, zone sizes).

    ``P[i, j]`` counts the zones of the i-th gray level present in the ROI with the j-th zone size that occurs;
    gray levels absent from the ROI and sizes no zone has are left out, as PyRadiomics deletes them.
    """
    settings = region.settings
    force2d_dimension = int(settings.get("force2Ddimension", 0)) if settings.get("force2D", False) else -1
    zone_levels, zone_sizes = zones(region.gray_levels, force2d_dimension)
    present = region.present_levels
    sizes, column = np.unique(zone_sizes, return_inverse=True)
    row = np.searchsorted(present, zone_levels)
    counts = np.bincount(row * sizes.size + column, minlength=present.size * sizes.size)
    matrix = counts.reshape(present.size, sizes.size).astype(np.float64)
    return matrix, present.astype(np.float64), sizes.astype(np.float64)


# ---------------------------------------------------------------- features
class _Coefficients:
    """The GLSZM and what PyRadiomics' features share: marginals, ``Nz`` (zones) and ``Np`` (voxels)."""

    def __init__(self, region: Region):
        self.P, self.ivector, self.jvector = size_zone_matrix(region)
        self.ps = self.P.sum(0)  # zones per size
        self.pg = self.P.sum(1)  # zones per gray level
        self.Nz = self.ps.sum()  # > 0: a ROI has at least one zone
        self.Np = (self.ps * self.jvector).sum()  # the ROI's voxel count
        self.i2 = self.ivector**2
        self.j2 = self.jvector**2


def _variance(marginal: np.ndarray, values: np.ndarray, total: float) -> float:
    """Variance of ``values`` under the normalised ``marginal`` (two-pass, as PyRadiomics)."""
    p = marginal / total
    mean = (p * values).sum()
    return (p * (values - mean) ** 2).sum()


def _entropy(c: _Coefficients) -> float:
    p = c.P / c.Nz
    return -(p * np.log2(p + np.spacing(1))).sum()


_FORMULAS = {
    "SmallAreaEmphasis": lambda c: (c.ps / c.j2).sum() / c.Nz,
    "LargeAreaEmphasis": lambda c: (c.ps * c.j2).sum() / c.Nz,
    "GrayLevelNonUniformity": lambda c: (c.pg**2).sum() / c.Nz,
    "GrayLevelNonUniformityNormalized": lambda c: (c.pg**2).sum() / c.Nz**2,
    "SizeZoneNonUniformity": lambda c: (c.ps**2).sum() / c.Nz,
    "SizeZoneNonUniformityNormalized": lambda c: (c.ps**2).sum() / c.Nz**2,
    "ZonePercentage": lambda c: c.Nz / c.Np,
    "GrayLevelVariance": lambda c: _variance(c.pg, c.ivector, c.Nz),
    "ZoneVariance": lambda c: _variance(c.ps, c.jvector, c.Nz),
    "ZoneEntropy": _entropy,
    "LowGrayLevelZoneEmphasis": lambda c: (c.pg / c.i2).sum() / c.Nz,
    "HighGrayLevelZoneEmphasis": lambda c: (c.pg * c.i2).sum() / c.Nz,
    "SmallAreaLowGrayLevelEmphasis": lambda c: (c.P / (c.i2[:, None] * c.j2)).sum() / c.Nz,
    "SmallAreaHighGrayLevelEmphasis": lambda c: (c.P * c.i2[:, None] / c.j2).sum() / c.Nz,
    "LargeAreaLowGrayLevelEmphasis": lambda c: (c.P * c.j2 / c.i2[:, None]).sum() / c.Nz,
    "LargeAreaHighGrayLevelEmphasis": lambda c: (c.P * c.i2[:, None] * c.j2).sum() / c.Nz,
}


def compute(region: Region, names: Sequence[str]) -> dict[str, float]:
    """The requested GLSZM features of ``region`` in the order of ``names``.

    A feature whose computation raises is NaN; an unknown name raises ``LookupError`` as in PyRadiomics, and a
    crop in which zones cannot grow along any axis raises ``RuntimeError`` as PyRadiomics' matrix does.
    """
    for name in names:
        if name not in FEATURES:
            raise LookupError("Feature not found: " + name)
    wanted = [name for name in names if not FEATURES[name]]
    if not wanted:
        return {}
    coefficients = _Coefficients(region)
    values: dict[str, float] = {}
    with np.errstate(all="ignore"):
        for name in wanted:
            try:
                values[name] = float(_FORMULAS[name](coefficients))
            except Exception:  # noqa: BLE001 - PyRadiomics turns a failing feature into NaN
                logger.exception("GLSZM feature %s failed", name)
                values[name] = float("nan")
    return values
