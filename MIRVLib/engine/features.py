"""What the native feature class modules share: their ``compute`` contract and the zone/dependence coefficients.

Every module answers ``compute(region, names)`` the way PyRadiomics' feature classes do: an unknown name raises
``LookupError`` (PyRadiomics' ``enableFeatureByName``), deprecated names are skipped by the classes whose
PyRadiomics counterpart skips them, each formula runs on one shared object built once, and a formula that raises
gives NaN (PyRadiomics catches any exception of a feature). :func:`requested` and :func:`evaluate` hold that
loop once. :class:`ZoneCoefficients` holds the sums GLSZM and GLDM derive alike from a matrix ``P`` whose rows
are gray levels (``ivector``) and whose columns are zone sizes or dependence sizes (``jvector``).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


def none_deprecated(*names: str) -> dict[str, bool]:
    """A ``FEATURES`` table for a PyRadiomics class none of whose features is deprecated."""
    return dict.fromkeys(names, False)


def requested(names: Sequence[str], features: Mapping[str, bool], skip_deprecated: bool) -> list[str]:
    """The names to compute, in the order of ``names``; raises ``LookupError`` for the first unknown one.

    ``skip_deprecated``: leave deprecated names out, as PyRadiomics' glcm, glrlm, glszm and gldm do; its
    firstorder, shape and shape2D compute a deprecated feature when it is asked for by name.
    """
    for name in names:
        if name not in features:
            raise LookupError(f"Feature not found: {name}")
    if skip_deprecated:
        return [name for name in names if not features[name]]
    return list(names)


def evaluate(
    names: Sequence[str],
    features: Mapping[str, bool],
    formulas: Mapping[str, Callable[[Any], Any]],
    build: Callable[[], Any],
    *,
    skip_deprecated: bool,
    real_part: bool = False,
    logger: logging.Logger | None = None,
    label: str = "",
) -> dict[str, float]:
    """``{name: float(formulas[name](build()))}`` for the :func:`requested` names, in their order.

    ``build`` makes the shared object once, and only when there is something to compute (so an empty request
    returns ``{}`` without touching the region). Floating-point warnings are silenced. A formula that raises
    gives NaN (logged through ``logger`` as "<label> feature <name> failed" when one is given). ``real_part``
    keeps the real part of a complex value (the general eigen solver of the shape classes can return one).
    """
    wanted = requested(names, features, skip_deprecated)
    if not wanted:
        return {}
    subject = build()
    values: dict[str, float] = {}
    with np.errstate(all="ignore"):
        for name in wanted:
            try:
                value = formulas[name](subject)
                values[name] = float(np.real(value) if real_part else value)
            except Exception:  # noqa: BLE001 - PyRadiomics turns any failing feature into NaN
                if logger is not None:
                    logger.exception("%s feature %s failed", label, name)
                values[name] = math.nan
    return values


class ZoneCoefficients:
    """A gray level x size matrix ``P`` and what PyRadiomics derives from it for GLSZM and GLDM alike.

    ``by_size`` and ``by_level`` are the column and row sums (zones or voxels per size / per gray level),
    ``Nz`` their total; ``i2`` and ``j2`` the squared gray levels and sizes.
    """

    def __init__(self, P: np.ndarray, ivector: np.ndarray, jvector: np.ndarray):
        self.P, self.ivector, self.jvector = P, ivector, jvector
        self.by_size = P.sum(0)
        self.by_level = P.sum(1)
        self.Nz = self.by_size.sum()
        self.i2 = ivector**2
        self.j2 = jvector**2

    # PyRadiomics' formulas, each divided by Nz; the feature names differ between GLSZM ("Area", "Zone") and
    # GLDM ("Dependence"), the arithmetic does not.
    def small_emphasis(self) -> float:
        return (self.by_size / self.j2).sum() / self.Nz

    def large_emphasis(self) -> float:
        return (self.by_size * self.j2).sum() / self.Nz

    def level_non_uniformity(self) -> float:
        return (self.by_level**2).sum() / self.Nz

    def level_non_uniformity_normalized(self) -> float:
        return (self.by_level**2).sum() / self.Nz**2

    def size_non_uniformity(self) -> float:
        return (self.by_size**2).sum() / self.Nz

    def size_non_uniformity_normalized(self) -> float:
        return (self.by_size**2).sum() / self.Nz**2

    def low_level_emphasis(self) -> float:
        return (self.by_level / self.i2).sum() / self.Nz

    def high_level_emphasis(self) -> float:
        return (self.by_level * self.i2).sum() / self.Nz

    def small_low_level_emphasis(self) -> float:
        return (self.P / (self.i2[:, None] * self.j2)).sum() / self.Nz

    def small_high_level_emphasis(self) -> float:
        return (self.P * self.i2[:, None] / self.j2).sum() / self.Nz

    def large_low_level_emphasis(self) -> float:
        return (self.P * self.j2 / self.i2[:, None]).sum() / self.Nz

    def level_variance(self) -> float:
        """Variance of the gray levels under the normalised level marginal."""
        return _variance(self.by_level, self.ivector, self.Nz)

    def size_variance(self) -> float:
        """Variance of the sizes under the normalised size marginal."""
        return _variance(self.by_size, self.jvector, self.Nz)

    def entropy(self) -> float:
        """-sum p log2(p + eps) of P / Nz."""
        p = self.P / self.Nz
        return -(p * np.log2(p + np.spacing(1))).sum()


def _variance(marginal: np.ndarray, values: np.ndarray, total: float) -> float:
    """Variance of ``values`` under the normalised ``marginal`` (two-pass, as PyRadiomics)."""
    p = marginal / total
    mean = (p * values).sum()
    return (p * (values - mean) ** 2).sum()


def level_dtype(n_levels: int, signed: bool = False) -> np.dtype:
    """The narrowest integer type holding gray levels 0..n_levels (comparisons on it are cheapest); ``signed``
    when differences of levels must fit too. Falls back to int64."""
    candidates = (np.int8, np.int16, np.int32) if signed else (np.uint8, np.uint16, np.uint32)
    for dtype in candidates:
        if n_levels <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def force2d_dimension(settings: Mapping[str, Any]) -> int:
    """The axis PyRadiomics' ``force2D`` keeps still (``force2Ddimension``), or -1 without ``force2D``."""
    return int(settings.get("force2Ddimension", 0)) if settings.get("force2D", False) else -1


def angle_candidates(shape: tuple[int, ...], distances: tuple[int, ...], plane_axis: int) -> tuple[np.ndarray, int]:
    """PyRadiomics' ``build_angles``/``generate_angles`` offsets for a crop of ``shape``: (valid offsets, count).

    Candidate offsets run from +d_max down to -d_max per axis, the first axis slowest; an offset is valid when it
    fits in the crop (|offset| < size), does not move along ``plane_axis`` and its infinity norm is one of
    ``distances``. ``count`` is how many angles PyRadiomics allocates (both directions): per requested distance,
    the offsets of exactly that norm that fit, so a repeated distance counts twice; PyRadiomics reads the valid
    offsets cyclically until it has them. Raises like PyRadiomics for no distance, a distance below 1 or no angle.
    """
    return _angle_candidates(tuple(int(n) for n in shape), tuple(int(d) for d in distances), int(plane_axis))


@functools.lru_cache(maxsize=256)
def _angle_candidates(shape: tuple[int, ...], distances: tuple[int, ...], plane_axis: int) -> tuple[np.ndarray, int]:
    if not distances or min(distances) < 1:
        raise RuntimeError("Error getting angle count.")
    dist = np.array(distances, dtype=np.int64)
    size = np.asarray(shape, dtype=np.int64)
    ndim = size.size
    in_plane = np.arange(ndim) != plane_axis
    count = 0
    for d in distances:
        reach = np.minimum(d, size[in_plane] - 1)
        inner = np.minimum(d - 1, size[in_plane] - 1)
        count += int(np.prod(2 * reach + 1)) - int(np.prod(2 * inner + 1))
    if count == 0:
        raise RuntimeError("Error getting angle count.")
    d_max = int(dist.max())
    steps = np.arange(d_max, -d_max - 1, -1)
    grid = np.stack(np.meshgrid(*([steps] * ndim), indexing="ij"), -1).reshape(-1, ndim)
    norm = np.abs(grid).max(1)
    valid = (np.abs(grid) < size).all(1) & ((grid == 0) | in_plane).all(1) & np.isin(norm, dist)
    candidates = grid[valid].astype(np.intp)
    candidates.flags.writeable = False  # shared by every caller through the cache
    return candidates, count
