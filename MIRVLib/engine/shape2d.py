"""PyRadiomics' ``shape2D`` feature class (2D size and shape of the ROI), vectorised.

PyRadiomics computes it for a genuinely 2D mask, or for a 3D mask one voxel thick along ``force2Ddimension``
when ``force2D`` is set (otherwise it raises ``ValueError``). The mask is padded with one empty pixel on every
side and traced by marching squares in C (``cshape.c``): the contour crosses every edge between an ROI pixel
and a background pixel at its midpoint, with the line segments of each 2x2 square taken from a 16-case
table, oriented so that the signed areas of the triangles (segment, array origin) add up to the enclosed
surface. The perimeter is the sum of segment lengths and the maximum diameter the largest distance between
contour vertices; the rest comes from the principal moments of the ROI pixels' physical coordinates.

As for 3D (:mod:`MIRVLib.engine.shape`), every square's case comes from shifted views of the mask, a segment's
length does not depend on its square's position, and its signed triangle area at position ``p`` is its area
at the origin plus ``p x (b - a)``; so perimeter and surface are per-case tables combined with per-case counts
and position sums.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

from MIRVLib.engine.features import evaluate
from MIRVLib.engine.region import Region
from MIRVLib.engine.shape import (
    axis_length,
    axis_ratio,
    boundary_midpoints,
    cell_position_sums,
    corner_codes,
    layout_to_case,
    max_squared_distance,
    principal_moments,
)

# Feature name -> deprecated (PyRadiomics' getFeatureNames()), in alphabetical order.
FEATURES: dict[str, bool] = {
    "Elongation": False,
    "MajorAxisLength": False,
    "MaximumDiameter": False,
    "MeshSurface": False,
    "MinorAxisLength": False,
    "Perimeter": False,
    "PerimeterSurfaceRatio": False,
    "PixelSurface": False,
    "SphericalDisproportion": True,
    "Sphericity": False,
}

# ------------------------------------------------------------------ marching-squares tables (PyRadiomics' cshape.c)
# Square corners as (y, x) offsets; corner k is bit k of PyRadiomics' case index.
_CORNERS = np.array([(0, 0), (0, 1), (1, 1), (1, 0)], dtype=float)
# Square edges as corner pairs; a contour vertex sits at the edge's midpoint.
_EDGES = ((0, 1), (1, 2), (2, 3), (3, 0))
_EDGE_MIDPOINTS = np.array([(_CORNERS[a] + _CORNERS[b]) / 2 for a, b in _EDGES])
# Segments of cases 0..15: each digit an edge, two digits a segment (oriented: ROI on a consistent side).
_SEGMENT_TABLE = ("", "30", "01", "31", "12", "1230", "02", "32", "23", "20", "0123", "21", "13", "10", "03", "")
_CASE = layout_to_case(_CORNERS)  # corner_codes value -> PyRadiomics' case index


@functools.lru_cache(maxsize=64)
def _case_tables(spacing: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per :func:`corner_codes` value (16): segment lengths, doubled signed triangle areas to the square's
    origin, and summed segment vectors ``b - a`` (a square at ``p`` adds ``p x (b - a)`` to the doubled area)."""
    points = _EDGE_MIDPOINTS * np.array(spacing)
    length = np.zeros(16)
    area = np.zeros(16)
    direction = np.zeros((16, 2))
    for case, code in enumerate(_SEGMENT_TABLE):
        for s in range(0, len(code), 2):
            a, b = points[int(code[s])], points[int(code[s + 1])]
            length[case] += math.sqrt(float(np.sum((a - b) ** 2)))
            area[case] += a[0] * b[1] - b[0] * a[1]
            direction[case] += b - a
    return length[_CASE], area[_CASE], direction[_CASE]


def _check_vertex_stack(codes: np.ndarray) -> None:
    """Raise where PyRadiomics' C code would: it stores contour vertices in a buffer of 4 doubles per square and,
    before each square on the contour, requires room for 9 more (a bound taken from 3D); failing that, the class
    cannot be built at all. With the one-pixel padding this does not seem reachable (no mask up to 4x4 fails),
    but the check is cheap and keeps the behaviour identical."""
    flat = codes.ravel()
    on_contour = (flat != 0) & (flat != 15)
    # Each square stores the vertex on its edge (0,0)-(1,0) and on (1,0)-(1,1) where the pixels differ;
    # corner_codes bits: (0,0) -> 0, (0,1) -> 1, (1,0) -> 2, (1,1) -> 3.
    corner = [(flat >> k) & 1 for k in range(4)]
    stored = 2 * ((corner[0] != corner[2]).astype(np.intp) + (corner[3] != corner[2]))
    before = np.cumsum(stored) - stored
    if np.any(on_contour & (before + 9 > 4 * flat.size)):
        raise RuntimeError("Calculation of Shape coefficients failed.")


def contour_perimeter_surface(padded: np.ndarray, spacing: np.ndarray) -> tuple[float, float]:
    """Perimeter and enclosed surface of PyRadiomics' marching-squares contour of a zero-padded 2D mask."""
    codes = corner_codes(padded)
    _check_vertex_stack(codes)
    length_table, area_table, direction_table = _case_tables(tuple(float(v) for v in spacing))
    flat = codes.ravel()
    cells = np.flatnonzero((flat != 0) & (flat != 15))
    counts = np.bincount(flat[cells], minlength=16)
    perimeter = float(counts @ length_table)
    y_sums, x_sums = cell_position_sums(codes, cells, bins=16)
    surface = float(counts @ area_table)
    surface += float(spacing[0] * (direction_table[:, 1] @ y_sums))
    surface -= float(spacing[1] * (direction_table[:, 0] @ x_sums))
    return perimeter, surface / 2


class _Shape2D:
    """Lazily computed contour, diameter and moments of one 2D ROI."""

    def __init__(self, region: Region):
        mask = np.asarray(region.mask, dtype=bool)
        spacing = np.array(region.spacing[::-1], dtype=float)
        if mask.ndim == 3:
            if not region.settings.get("force2D", False):
                raise ValueError("shape2D needs a 2D mask, or a 3D mask with force2D=True")
            dimension = int(region.settings.get("force2Ddimension", 0))
            if mask.shape[dimension] > 1:
                raise ValueError(f"shape2D: the mask is {mask.shape[dimension]} voxels thick along force2Ddimension "
                                 f"{dimension}, not 1")
            spacing = np.delete(spacing, dimension)
            mask = np.squeeze(mask, axis=dimension)
        elif mask.ndim != 2:
            raise ValueError("shape2D needs a 2D mask, or a 3D mask with force2D=True")
        self.padded = np.pad(mask, 1)
        self.spacing = spacing
        self.perimeter, self.surface = contour_perimeter_surface(self.padded, self.spacing)
        self._diameter = None
        self._eigenvalues = None

    @property
    def diameter(self) -> float:
        if self._diameter is None:
            doubled, _ = boundary_midpoints(self.padded)
            self._diameter = math.sqrt(max_squared_distance((doubled / 2.0) * self.spacing))
        return self._diameter

    @property
    def eigenvalues(self) -> np.ndarray:
        if self._eigenvalues is None:
            self._eigenvalues = principal_moments(self.padded, self.spacing)
        return self._eigenvalues

    def pixel_surface(self) -> float:
        y, x = self.spacing
        return float(np.count_nonzero(self.padded) * (x * y))

    def sphericity(self):
        """2 sqrt(pi A) / P: the perimeter of the circle with the ROI's surface over the ROI's perimeter."""
        return (2 * np.sqrt(np.pi * self.surface)) / self.perimeter


_FORMULAS: dict[str, Callable[[_Shape2D], float]] = {
    "MeshSurface": lambda s: s.surface,
    "PixelSurface": lambda s: s.pixel_surface(),
    "Perimeter": lambda s: s.perimeter,
    "PerimeterSurfaceRatio": lambda s: s.perimeter / s.surface,
    "Sphericity": lambda s: s.sphericity(),
    "SphericalDisproportion": lambda s: 1.0 / s.sphericity(),
    "MaximumDiameter": lambda s: s.diameter,
    "MajorAxisLength": lambda s: axis_length(s.eigenvalues[1]),
    "MinorAxisLength": lambda s: axis_length(s.eigenvalues[0]),
    "Elongation": lambda s: axis_ratio(s.eigenvalues[0], s.eigenvalues[1]),
}


def compute(region: Region, names: Sequence[str]) -> dict[str, float]:
    """PyRadiomics' shape2D features ``names`` of the ROI (the unfiltered crop; gray levels are not used).

    Raises ``ValueError`` where PyRadiomics' class does (3D input without ``force2D``, or more than one voxel
    along ``force2Ddimension``). The deprecated SphericalDisproportion is computed when asked for by name.
    """
    return evaluate(names, FEATURES, _FORMULAS, lambda: _Shape2D(region), skip_deprecated=False, real_part=True)
