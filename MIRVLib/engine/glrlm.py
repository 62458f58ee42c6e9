"""Gray Level Run Length Matrix features: PyRadiomics' ``glrlm`` class, computed natively with NumPy.

A run is a maximal chain of consecutive ROI voxels with the same gray level along one direction. For each of
PyRadiomics' directions (13 in 3D, 4 with ``force2D``, fewer when the crop is one voxel thick in some axis)
the runs of the whole crop are found at once: the zero-padded gray-level volume is read in an order that
visits every line of that direction end to end, so each run becomes a constant stretch of a 1-D array. The
directions' arrays are joined, and one run-length encoding plus ``np.bincount`` over (gray level, run length)
codes gives every direction's matrix; no Python loop touches voxels.

Everything after the matrix follows ``radiomics/glrlm.py``: empty gray levels and run lengths are dropped,
directions without any run are dropped (unless the matrices were merged by ``weightingNorm``), each feature
is computed per direction and the directions are averaged with ``nanmean``.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Sequence

import numpy as np

from MIRVLib.engine.region import Region

logger = logging.getLogger(__name__)

# Every feature PyRadiomics' RadiomicsGLRLM defines -> deprecated? (none is); alphabetical = PyRadiomics' default order.
FEATURES: dict[str, bool] = {
    name: False
    for name in (
        "GrayLevelNonUniformity",
        "GrayLevelNonUniformityNormalized",
        "GrayLevelVariance",
        "HighGrayLevelRunEmphasis",
        "LongRunEmphasis",
        "LongRunHighGrayLevelEmphasis",
        "LongRunLowGrayLevelEmphasis",
        "LowGrayLevelRunEmphasis",
        "RunEntropy",
        "RunLengthNonUniformity",
        "RunLengthNonUniformityNormalized",
        "RunPercentage",
        "RunVariance",
        "ShortRunEmphasis",
        "ShortRunHighGrayLevelEmphasis",
        "ShortRunLowGrayLevelEmphasis",
    )
}


# ---------------------------------------------------------------- directions
def directions(shape: Sequence[int], force2d_dimension: int = -1) -> np.ndarray:
    """PyRadiomics' run directions (distance 1, one of each opposite pair) for a crop of ``shape``, in its order.

    Offsets run from +1 down to -1 per axis, the first axis slowest (PyRadiomics' ``build_angles``); an offset
    is impossible along an axis of size 1 or along the ``force2d_dimension`` axis. Of the symmetric set of
    valid offsets the first half is kept: those whose first non-zero component is +1, so every direction
    moves forward in C order. Raises when no direction is possible (PyRadiomics' "Error getting angle count").
    """
    return _directions(tuple(axis != force2d_dimension and size > 1 for axis, size in enumerate(shape))).copy()


@functools.lru_cache(maxsize=None)
def _directions(movable: tuple[bool, ...]) -> np.ndarray:
    per_axis = [(1, 0, -1) if can_move else (0,) for can_move in movable]
    forward = [
        offset for offset in itertools.product(*per_axis) if any(offset) and next(o for o in offset if o) > 0
    ]
    if not forward:
        raise RuntimeError("Error getting angle count.")
    return np.array(forward, dtype=np.intp)


# ---------------------------------------------------------------- matrix
# Directions are encoded together while their laid-out lines stay below this many elements (bounds the memory
# of the run positions on large crops; small crops take a single pass for all directions).
_ELEMENTS_PER_PASS = 1 << 22


def _level_dtype(n_levels: int) -> np.dtype:
    """The narrowest unsigned type holding gray levels 0..n_levels (comparisons on it are cheapest)."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if n_levels <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def _lay_out_lines(flat: np.ndarray, step: int, out: np.ndarray) -> None:
    """Write the lines of the direction with flat step ``step`` end to end into ``out`` (length ``_laid_size``).

    ``flat`` is the one-voxel zero-padded gray-level volume in C order followed by at least ``step - 1`` zeros.
    Stepping by ``step`` from a crop voxel reaches the next voxel of its line or, once the line leaves the
    crop, a padding voxel (never wrapping around), so reading the volume as ``step`` interleaved sequences
    (reshape to (rows, step), transpose) visits every line in order, lines separated by zeros. A zero column
    closes every sequence so that no run continues from one sequence into the next.
    """
    rows = out.size // step - 1
    table = out.reshape(step, rows + 1)
    table[:, :rows] = flat[: rows * step].reshape(rows, step).T
    table[:, rows] = 0


def _laid_size(n_padded: int, step: int) -> int:
    return step * (-(-n_padded // step) + 1)


def _has_shared_line(inside: np.ndarray, roi: np.ndarray, step: int) -> bool:
    """Whether a line of the direction with flat step ``step`` holds two or more ROI voxels.

    ``inside`` / ``roi`` are the padded crop and ROI indicators (flat, C order); laid out like the gray levels,
    every voxel outside the crop separates two lines.
    """
    n_padded = inside.size
    in_crop = np.zeros(_laid_size(n_padded, step), dtype=bool)
    in_roi = np.zeros_like(in_crop)
    padded_inside = np.zeros(n_padded + step, dtype=bool)
    padded_inside[:n_padded] = inside
    padded_roi = np.zeros(n_padded + step, dtype=bool)
    padded_roi[:n_padded] = roi
    _lay_out_lines(padded_inside, step, in_crop)
    _lay_out_lines(padded_roi, step, in_roi)
    line_ids = np.cumsum(~in_crop)
    return bool(np.bincount(line_ids[in_roi]).max(initial=0) > 1)


def _direction_counts(region: Region) -> tuple[np.ndarray, np.ndarray]:
    """Run counts of shape (Na, Ng, Nr) and the directions (Na, Nd); see :func:`run_length_matrix`."""
    settings = region.settings
    levels = region.gray_levels
    force2d_dimension = int(settings.get("force2Ddimension", 0)) if settings.get("force2D", False) else -1
    angles = directions(levels.shape, force2d_dimension)
    n_levels = region.max_level
    n_lengths = int(max(levels.shape))
    cells = n_levels * n_lengths

    padded_shape = tuple(size + 2 for size in levels.shape)
    n_padded = int(np.prod(padded_shape))
    strides = np.array([int(np.prod(padded_shape[axis + 1 :])) for axis in range(len(padded_shape))])
    steps = [int(step) for step in angles @ strides]  # all positive: each direction moves forward in C order
    sizes = [_laid_size(n_padded, step) for step in steps]
    flat = np.zeros(n_padded + max(steps), dtype=_level_dtype(n_levels))
    flat[:n_padded].reshape(padded_shape)[(slice(1, -1),) * levels.ndim] = levels

    counts = np.zeros((len(angles), n_levels, n_lengths), dtype=np.float64)
    first = 0
    while first < len(angles):
        last, total = first + 1, sizes[first]
        while last < len(angles) and total + sizes[last] <= _ELEMENTS_PER_PASS:
            total += sizes[last]
            last += 1
        offsets = np.cumsum([0] + sizes[first:last])
        line = np.empty(total, dtype=flat.dtype)
        for index in range(first, last):
            _lay_out_lines(flat, steps[index], line[offsets[index - first] : offsets[index - first + 1]])

        # Cut the laid-out lines where the level changes: every piece between two cuts is a run of one level,
        # of padding or of voxels outside the ROI (level 0). Code each piece as level * Nr + length (lengths of
        # zero pieces clipped so that their codes stay below Nr + 1, where they are discarded).
        cuts = np.flatnonzero(line[1:] != line[:-1])
        lengths = np.diff(cuts)
        np.minimum(lengths, n_lengths, out=lengths)
        codes = line[1:][cuts[:-1]].astype(np.intp)
        codes *= n_lengths
        codes += lengths
        bounds = np.searchsorted(cuts[:-1], offsets)  # pieces of each direction (zero pieces may straddle)
        for index in range(first, last):
            low, high = bounds[index - first], bounds[index - first + 1]
            found = np.bincount(codes[low:high], minlength=cells + n_lengths + 1)
            counts[index] = found[n_lengths + 1 : cells + n_lengths + 1].reshape(n_levels, n_lengths)
        first = last

    # PyRadiomics zeroes a direction in which no line holds two ROI voxels (the ROI is flat across it); only a
    # direction with nothing but runs of length 1 can be one.
    single = np.flatnonzero(counts[:, :, 0].any(axis=1) & ~counts[:, :, 1:].any(axis=(1, 2)))
    if single.size:
        inside = np.pad(np.ones(levels.shape, dtype=bool), 1).ravel()
        roi = flat[:n_padded] > 0
        for index in single:
            if not _has_shared_line(inside, roi, steps[index]):
                counts[index] = 0
    return counts, angles


def run_length_matrix(region: Region) -> tuple[np.ndarray, np.ndarray]:
    """PyRadiomics' raw GLRLM of ``region``: counts of shape (Ng, Nr, Na) and the directions (Na, Nd).

    ``Ng`` is the highest gray level in the ROI and ``Nr`` the largest crop dimension (the longest possible run),
    as PyRadiomics sizes it; rows of gray levels absent from the ROI are still present (all zero).

    The lines of several directions are laid out one after another in a single 1-D array (see
    :func:`_lay_out_lines`); a run is then a maximal stretch of one non-zero gray level in it, found by one
    run-length encoding, and ``np.bincount`` over (gray level, length) codes counts them per direction.
    """
    counts, angles = _direction_counts(region)
    return np.moveaxis(counts, 0, -1), angles


def _direction_weights(angles: np.ndarray, spacing_zyx: np.ndarray, norm: str) -> np.ndarray:
    """Per-direction distance weights of ``weightingNorm`` (unknown norms weigh 1, with PyRadiomics' warning)."""
    steps = np.abs(angles) * spacing_zyx
    if norm == "infinity":
        return steps.max(axis=1)
    if norm == "euclidean":
        return np.sqrt(np.sum(steps**2, axis=1))
    if norm == "manhattan":
        return np.sum(steps, axis=1)
    if norm != "no_weighting":
        logger.warning('weigthing norm "%s" is unknown, weighting factor is set to 1', norm)
    return np.ones(len(angles))


# ---------------------------------------------------------------- features
def _per_direction(region: Region) -> dict[str, np.ndarray]:
    """Every feature's value in each direction (PyRadiomics' formulas, shared sums computed once)."""
    counts, angles = _direction_counts(region)
    matrix = counts[:, region.present_levels - 1]
    norm = region.settings.get("weightingNorm", None)
    if norm is not None:
        weights = _direction_weights(angles, np.asarray(region.spacing, dtype=np.float64)[::-1], norm)
        matrix = np.sum(matrix * weights[:, None, None], axis=0, keepdims=True)
    if matrix.shape[0] > 1:
        matrix = matrix[matrix.any(axis=(1, 2))]  # directions without runs do not count in the average
    used = matrix.any(axis=(0, 1))  # run lengths that occur
    P = matrix[:, :, used]  # (direction, gray level, run length)
    i = region.present_levels.astype(np.float64)
    j = np.flatnonzero(used) + 1.0

    runs = np.sum(P, axis=(1, 2))
    runs[runs == 0] = np.nan
    pr = np.sum(P, axis=1)  # (direction, run length)
    pg = np.sum(P, axis=2)  # (direction, gray level)
    i2, j2 = i * i, j * j
    by_length = pr @ np.stack([1.0 / j2, j2, j], axis=1)  # short/long run sums and voxel count Np
    by_level = pg @ np.stack([1.0 / i2, i2], axis=1)
    low = np.matmul(1.0 / i2, P)  # (direction, run length): sum over gray levels of P / i^2
    high = np.matmul(i2, P)
    low_by_length = low @ np.stack([1.0 / j2, j2], axis=1)
    high_by_length = high @ np.stack([1.0 / j2, j2], axis=1)

    gray = pg / runs[:, None]
    gray_mean = gray @ i
    length = pr / runs[:, None]
    length_mean = length @ j
    p = P / runs[:, None, None]
    gln, rln = np.sum(pg * pg, axis=1), np.sum(pr * pr, axis=1)
    return {
        "GrayLevelNonUniformity": gln / runs,
        "GrayLevelNonUniformityNormalized": gln / (runs * runs),
        "GrayLevelVariance": np.sum(gray * (i[None, :] - gray_mean[:, None]) ** 2, axis=1),
        "HighGrayLevelRunEmphasis": by_level[:, 1] / runs,
        "LongRunEmphasis": by_length[:, 1] / runs,
        "LongRunHighGrayLevelEmphasis": high_by_length[:, 1] / runs,
        "LongRunLowGrayLevelEmphasis": low_by_length[:, 1] / runs,
        "LowGrayLevelRunEmphasis": by_level[:, 0] / runs,
        "RunEntropy": -np.sum(p * np.log2(p + np.spacing(1)), axis=(1, 2)),
        "RunLengthNonUniformity": rln / runs,
        "RunLengthNonUniformityNormalized": rln / (runs * runs),
        "RunPercentage": runs / by_length[:, 2],
        "RunVariance": np.sum(length * (j[None, :] - length_mean[:, None]) ** 2, axis=1),
        "ShortRunEmphasis": by_length[:, 0] / runs,
        "ShortRunHighGrayLevelEmphasis": high_by_length[:, 0] / runs,
        "ShortRunLowGrayLevelEmphasis": low_by_length[:, 0] / runs,
    }


def compute(region: Region, names: Sequence[str]) -> dict[str, float]:
    """The requested GLRLM features of ``region`` in the order of ``names``: per-direction values, nan-averaged.

    An unknown name raises ``LookupError`` as in PyRadiomics; a direction whose matrix is empty gives NaN.
    """
    for name in names:
        if name not in FEATURES:
            raise LookupError("Feature not found: " + name)
    wanted = [name for name in names if not FEATURES[name]]
    if not wanted:
        return {}
    with np.errstate(all="ignore"):
        per_direction = _per_direction(region)
        table = np.stack([per_direction[name] for name in wanted])
        missing = np.isnan(table)
        count = np.sum(~missing, axis=1)
        means = np.where(count > 0, np.sum(np.where(missing, 0.0, table), axis=1) / count, np.nan)
    return {name: float(value) for name, value in zip(wanted, means)}
