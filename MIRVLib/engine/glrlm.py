"""Gray Level Run Length Matrix features: PyRadiomics' ``glrlm`` class, computed natively with NumPy.

A run is a maximal chain of consecutive ROI voxels with the same gray level along one direction. For each of
PyRadiomics' directions (13 in 3D, 4 with ``force2D``, fewer when the crop is one voxel thick in some axis)
the padded crop is read in an order that visits every line of that direction end to end; the ROI voxels in
that order, direction after direction, and where a line (or the ROI along it) breaks, depend on the mask
alone and are kept per mask (:class:`_RunLayout`: the image types of a lesion share it). Each run is then a
constant stretch of the ROI's gray levels read in that order, and one run-length encoding plus
``np.bincount`` over (direction, gray level, run length) codes gives every direction's matrix; no Python
loop touches voxels.

Everything after the matrix follows ``radiomics/glrlm.py``: empty gray levels and run lengths are dropped,
directions without any run are dropped (unless the matrices were merged by ``weightingNorm``), each feature
is computed per direction and the directions are averaged with ``nanmean``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

import numpy as np

from MIRVLib.engine import features
from MIRVLib.engine.features import none_deprecated, requested
from MIRVLib.engine.region import Region

logger = logging.getLogger(__name__)

# Every feature PyRadiomics' RadiomicsGLRLM defines -> deprecated? (none is); alphabetical = PyRadiomics' default order.
FEATURES: dict[str, bool] = none_deprecated(
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


# ---------------------------------------------------------------- directions
def directions(shape: Sequence[int], force2d_dimension: int = -1) -> np.ndarray:
    """PyRadiomics' run directions (distance 1, one of each opposite pair) for a crop of ``shape``, in its order.

    Offsets run from +1 down to -1 per axis, the first axis slowest (PyRadiomics' ``build_angles``); an offset
    is impossible along an axis of size 1 or along the ``force2d_dimension`` axis. Of the symmetric set of
    valid offsets the first half is kept: those whose first non-zero component is +1, so every direction
    moves forward in C order. Raises when no direction is possible (PyRadiomics' "Error getting angle count").
    """
    return _directions(tuple(axis != force2d_dimension and size > 1 for axis, size in enumerate(shape))).copy()


@functools.cache
def _directions(movable: tuple[bool, ...]) -> np.ndarray:
    # The GLCM's distance-1 angles of a crop two voxels long along the movable axes, one along the others.
    candidates, count = features.angle_candidates(tuple(2 if can_move else 1 for can_move in movable), (1,), -1)
    return candidates[: count // 2]


# ---------------------------------------------------------------- matrix
# Masks whose laid-out ROI voxels (ROI voxels x directions) exceed this are not kept in the layout cache
# (9 bytes each; the cache holds the layouts of the last few masks).
_CACHED_POSITIONS = 1 << 21


def _lay_out_lines(flat: np.ndarray, step: int, out: np.ndarray, fill: int = 0) -> None:
    """Write the lines of the direction with flat step ``step`` end to end into ``out`` (length ``_laid_size``).

    ``flat`` is a one-voxel padded volume in C order (padding ``fill``) followed by at least ``step - 1`` more
    ``fill``. Stepping by ``step`` from a crop voxel reaches the next voxel of its line or, once the line leaves
    the crop, a padding voxel (never wrapping around), so reading the volume as ``step`` interleaved sequences
    (reshape to (rows, step), transpose) visits every line in order, lines separated by padding. A ``fill``
    column closes every sequence so that no line continues from one sequence into the next.
    """
    rows = out.size // step - 1
    table = out.reshape(step, rows + 1)
    table[:, :rows] = flat[: rows * step].reshape(rows, step).T
    table[:, rows] = fill


def _laid_size(n_padded: int, step: int) -> int:
    return step * (-(-n_padded // step) + 1)


class _RunLayout:
    """Where a mask's ROI voxels lie along the lines of every direction: all a run-length count needs of the mask.

    ``order``: the flat crop index of every ROI voxel, line after line (in line order), direction after
    direction (direction d's from ``bounds[d]`` to ``bounds[d + 1]``); ``breaks``: whether the voxel before it
    on its line is not an ROI voxel (or it starts a line), so no run continues into it; ``shared``: per
    direction, whether some line holds two or more ROI voxels (PyRadiomics zeroes a direction in which none
    does). It depends on the mask alone: the image types of one lesion (same crop, same mask) share it.
    """

    def __init__(self, mask: np.ndarray, angles: np.ndarray) -> None:
        padded_shape = tuple(size + 2 for size in mask.shape)
        n_padded = int(np.prod(padded_shape))
        strides = np.array([int(np.prod(padded_shape[axis + 1 :])) for axis in range(len(padded_shape))])
        steps = [int(step) for step in angles @ strides]  # all positive: each direction moves forward in C order
        # crop voxels: their flat index inside the ROI, -1 outside it; padding (between lines): -2
        flat = np.full(n_padded + max(steps), -2, dtype=np.intp)
        inside = flat[:n_padded].reshape(padded_shape)[(slice(1, -1),) * mask.ndim]
        inside[...] = np.where(mask, np.arange(mask.size).reshape(mask.shape), -1)
        orders, breaks, shared = [], [], []
        for step in steps:
            line = np.empty(_laid_size(n_padded, step), dtype=np.intp)
            _lay_out_lines(flat, step, line, fill=-2)
            positions = np.flatnonzero(line >= 0)
            line_ids = np.cumsum(line == -2)[positions]
            orders.append(line[positions])
            breaks.append(line[positions - 1] < 0)  # position 0 is padding: never an ROI voxel
            shared.append(bool((line_ids[1:] == line_ids[:-1]).any()))
        self.order = np.concatenate(orders)
        self.breaks = np.concatenate(breaks)
        self.bounds = np.cumsum([0] + [order.size for order in orders])
        self.shared = np.array(shared)
        for array in (self.order, self.breaks, self.bounds, self.shared):
            array.flags.writeable = False  # shared through the cache


@functools.lru_cache(maxsize=4)
def _cached_run_layout(shape: tuple[int, ...], movable: tuple[bool, ...], mask_bytes: bytes) -> _RunLayout:
    mask = np.frombuffer(mask_bytes, dtype=bool).reshape(shape)
    return _RunLayout(mask, _directions(movable))


def _run_layout(mask: np.ndarray, force2d_dimension: int) -> tuple[_RunLayout, np.ndarray]:
    """The mask's :class:`_RunLayout` (cached per mask content) and its directions."""
    mask = np.ascontiguousarray(mask, dtype=bool)
    movable = tuple(axis != force2d_dimension and size > 1 for axis, size in enumerate(mask.shape))
    angles = _directions(movable)  # raises when no direction is possible
    if np.count_nonzero(mask) * len(angles) > _CACHED_POSITIONS:
        return _RunLayout(mask, angles), angles.copy()
    return _cached_run_layout(mask.shape, movable, mask.tobytes()), angles.copy()


def _direction_counts(region: Region) -> tuple[np.ndarray, np.ndarray]:
    """Run counts of shape (Na, Ng, Nr) and the directions (Na, Nd); see :func:`run_length_matrix`."""
    settings = region.settings
    force2d_dimension = features.force2d_dimension(settings)
    layout, angles = _run_layout(region.mask, force2d_dimension)
    n_levels = region.max_level
    n_lengths = int(max(region.mask.shape))
    cells = n_levels * n_lengths

    # The ROI's gray levels, line after line: a run starts where the line breaks or the level changes.
    levels = region.gray_levels.ravel()[layout.order]
    starts = layout.breaks.copy()
    np.logical_or(starts[1:], levels[1:] != levels[:-1], out=starts[1:])
    starts = np.flatnonzero(starts)
    lengths = np.diff(starts, append=levels.size)
    # code (direction, level, length) of every run, all directions counted at once
    per_direction = np.diff(np.searchsorted(starts, layout.bounds))
    codes = np.repeat(np.arange(0, len(angles) * cells, cells), per_direction)  # the run's direction
    codes += levels[starts] * n_lengths
    codes += lengths
    codes -= n_lengths + 1
    counts = np.bincount(codes, minlength=len(angles) * cells).astype(np.float64)
    counts = counts.reshape(len(angles), n_levels, n_lengths)
    counts[~layout.shared] = 0  # no line holds two ROI voxels: PyRadiomics drops the direction's runs
    return counts, angles


def run_length_matrix(region: Region) -> tuple[np.ndarray, np.ndarray]:
    """PyRadiomics' raw GLRLM of ``region``: counts of shape (Ng, Nr, Na) and the directions (Na, Nd).

    ``Ng`` is the highest gray level in the ROI and ``Nr`` the largest crop dimension (the longest possible run),
    as PyRadiomics sizes it; rows of gray levels absent from the ROI are still present (all zero).

    The ROI voxels' gray levels are read in the order of every direction's lines (:class:`_RunLayout`, shared by
    all image types of one mask); a run is then a maximal stretch of one gray level not crossing a line break,
    found by one run-length encoding, and ``np.bincount`` over (direction, gray level, length) codes counts them.
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

    runs = np.add.reduce(P, axis=(1, 2))
    runs[runs == 0] = np.nan
    pr = np.add.reduce(P, axis=1)  # (direction, run length)
    pg = np.add.reduce(P, axis=2)  # (direction, gray level)
    i2, j2 = i * i, j * j
    by_length_weights = np.empty((j.size, 3))  # 1 / j^2, j^2, j
    np.divide(1.0, j2, out=by_length_weights[:, 0])
    by_length_weights[:, 1] = j2
    by_length_weights[:, 2] = j
    inverse_i2 = 1.0 / i2
    by_level_weights = np.empty((i.size, 2))  # 1 / i^2, i^2
    by_level_weights[:, 0] = inverse_i2
    by_level_weights[:, 1] = i2
    by_length = pr @ by_length_weights  # short/long run sums and voxel count Np
    by_level = pg @ by_level_weights
    low = np.matmul(inverse_i2, P)  # (direction, run length): sum over gray levels of P / i^2
    high = np.matmul(i2, P)
    emphasis_weights = by_length_weights[:, :2].copy()
    low_by_length = low @ emphasis_weights
    high_by_length = high @ emphasis_weights

    gray = pg / runs[:, None]
    gray_mean = gray @ i
    length = pr / runs[:, None]
    length_mean = length @ j
    p = P / runs[:, None, None]
    gln, rln = np.add.reduce(pg * pg, axis=1), np.add.reduce(pr * pr, axis=1)
    return {
        "GrayLevelNonUniformity": gln / runs,
        "GrayLevelNonUniformityNormalized": gln / (runs * runs),
        "GrayLevelVariance": np.add.reduce(gray * (i[None, :] - gray_mean[:, None]) ** 2, axis=1),
        "HighGrayLevelRunEmphasis": by_level[:, 1] / runs,
        "LongRunEmphasis": by_length[:, 1] / runs,
        "LongRunHighGrayLevelEmphasis": high_by_length[:, 1] / runs,
        "LongRunLowGrayLevelEmphasis": low_by_length[:, 1] / runs,
        "LowGrayLevelRunEmphasis": by_level[:, 0] / runs,
        "RunEntropy": -np.add.reduce(p * np.log2(p + np.spacing(1)), axis=(1, 2)),
        "RunLengthNonUniformity": rln / runs,
        "RunLengthNonUniformityNormalized": rln / (runs * runs),
        "RunPercentage": runs / by_length[:, 2],
        "RunVariance": np.add.reduce(length * (j[None, :] - length_mean[:, None]) ** 2, axis=1),
        "ShortRunEmphasis": by_length[:, 0] / runs,
        "ShortRunHighGrayLevelEmphasis": high_by_length[:, 0] / runs,
        "ShortRunLowGrayLevelEmphasis": low_by_length[:, 0] / runs,
    }


def compute(region: Region, names: Sequence[str]) -> dict[str, float]:
    """The requested GLRLM features of ``region`` in the order of ``names``: per-direction values, nan-averaged.

    An unknown name raises ``LookupError`` as in PyRadiomics; a direction whose matrix is empty gives NaN.
    """
    wanted = requested(names, FEATURES, skip_deprecated=True)
    if not wanted:
        return {}
    with np.errstate(all="ignore"):
        per_direction = _per_direction(region)
        table = np.stack([per_direction[name] for name in wanted])
        missing = np.isnan(table)
        count = np.sum(~missing, axis=1)
        means = np.where(count > 0, np.sum(np.where(missing, 0.0, table), axis=1) / count, np.nan)
    return {name: float(value) for name, value in zip(wanted, means)}
