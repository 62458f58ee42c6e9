"""PyRadiomics' ``shape`` feature class (3D size and shape of the ROI), vectorised.

PyRadiomics pads the ROI mask with one empty voxel on every side and runs a marching-cubes pass over it in C
(``cshape.c``): the isosurface crosses every edge between an ROI voxel and a background voxel at its midpoint,
and the triangles of each 2x2x2 cube come from a 128-case lookup table (a cube with its 8th corner set uses the
triangles of its complement with the opposite orientation). From the mesh it sums the triangle areas
(``SurfaceArea``), the signed volumes of the tetrahedra spanned by each triangle and the array origin
(``MeshVolume``), and finds the largest distance between mesh vertices, overall and between vertices that share
a z, y or x coordinate (the maximum diameters). The remaining features come from the principal moments of the
ROI voxels' physical coordinates.

Here every cube's case index is computed at once from shifted views of the padded mask. A triangle's area
does not depend on where its cube is, so the surface area is a histogram of case indices times a per-case area;
the tetrahedron volume of a triangle translated by ``p`` is its volume at the origin plus ``p`` dotted with its
(doubled) area normal, so the mesh volume is per-case tables dotted with per-case counts and position sums.
The mesh vertices are the midpoints of the ROI's boundary edges. A farthest pair of points is a pair of
convex-hull vertices, so only vertices that are first or last on their lattice lines are kept, those that
cannot reach the best length found are pruned, and the rest searched exactly along a fixed set of directions
(both ends of a long pair lie in thin slabs at the two ends of the projection range on some direction); the
per-plane diameters are searched only on planes whose directional extents leave them a chance to beat the best
plane. No SciPy is needed (importing ``scipy.spatial`` alone would cost more than a lesion's features).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np

from MIRVLib.engine.features import evaluate
from MIRVLib.engine.region import Region

# Feature name -> deprecated (PyRadiomics' getFeatureNames()), in alphabetical order.
FEATURES: dict[str, bool] = {
    "Compactness1": True,
    "Compactness2": True,
    "Elongation": False,
    "Flatness": False,
    "LeastAxisLength": False,
    "MajorAxisLength": False,
    "Maximum2DDiameterColumn": False,
    "Maximum2DDiameterRow": False,
    "Maximum2DDiameterSlice": False,
    "Maximum3DDiameter": False,
    "MeshVolume": False,
    "MinorAxisLength": False,
    "SphericalDisproportion": True,
    "Sphericity": False,
    "SurfaceArea": False,
    "SurfaceVolumeRatio": False,
    "VoxelVolume": False,
}

# ------------------------------------------------------------------ marching-cubes tables (PyRadiomics' cshape.c)
# Cube corners as (z, y, x) offsets; corner k is bit k of the case index.
_CORNERS = np.array(
    [(0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 1, 0), (1, 0, 0), (1, 0, 1), (1, 1, 1), (1, 1, 0)], dtype=float
)
# Cube edges as corner pairs; a surface vertex sits at the edge's midpoint.
_EDGES = ((1, 0), (2, 1), (3, 2), (3, 0), (5, 4), (6, 5), (7, 6), (7, 4), (4, 0), (5, 1), (6, 2), (7, 3))
_EDGE_MIDPOINTS = np.array([(_CORNERS[a] + _CORNERS[b]) / 2 for a, b in _EDGES])
# Triangles of cases 0..127: each hex digit is an edge, three digits a triangle (orientation: normals point out).
# This is the classic marching-cubes triangulation in PyRadiomics' corner/edge numbering; ambiguous cases must be
# split exactly this way for the surface area to agree.
_TRIANGLE_TABLE = (
    "", "083", "190", "183198", "12a", "08312a", "92a029", "2832a8a98",
    "b23", "b2008b", "190b23", "b2119b98b", "3a1ba3", "a1008a8ba", "9033b9ba9", "98aba8",
    "478", "043473", "190478", "194147173", "12a478", "34730412a", "92a902478", "2a9297273479",
    "478b23", "b47b24204", "190478b23", "47b94bb29192", "3a1ba3478", "ba114b10447b", "4789033b9ba9", "47b4b99ba",
    "954", "954083", "054015", "854835315", "12a954", "08312a954", "2a5542240", "2a5325354834",
    "954b23", "b2008b954", "054015b23", "215258b28548", "3a1ba3954", "549a1008a8ba", "54050ba5bb03", "548a58ba8",
    "789579", "309539357", "780017715", "157173", "78957912a", "12a309395357", "0288258572a5", "2a5253357",
    "579789b23", "579972209b27", "b23018178157", "21b17b157", "7895793a1ba3", "5705097b0a10ba0", "ba003ba50078570",
    "ba557b",
    "65a", "08365a", "19065a", "18319865a", "165126", "165126083", "965906026", "598582526832",
    "b2365a", "b2008b65a", "190b2365a", "b2119b98b65a", "63b653513", "08b0b50515b6", "63b036065059", "65969bb98",
    "47865a", "04347365a", "19047865a", "19414717365a", "478165126", "043473165126", "478965906026",
    "739479329596269",
    "b2347865a", "b47b2420465a", "190b2347865a", "47b94bb2919265a", "47863b653513", "51b5b610b47b04b",
    "47863b036065059", "65969b4797b9",
    "a4964a", "a4964a083", "01aa60640", "18316886461a", "149124264", "149124264083", "024426", "832824426",
    "b23a4964a", "b2008ba4964a", "b2301aa60640", "64161a148b2118b", "964369139b63", "18b081b61149641", "63b036640",
    "86468b",
    "67a78a89a", "67a0a709a073", "67a1a7178018", "67a1a7173", "126168189678", "269129679309739", "078706602",
    "273267",
    "b2367a78a89a", "207b2709767a9a7", "67a1a7178018b23", "b2117ba61167", "896678169b63136", "09167b",
    "07870603bb60", "67b",
)
_MAX_TRIANGLES = 5


def _triangle_edges() -> tuple[np.ndarray, np.ndarray]:
    """The triangle table as arrays: edge indices (128, 5, 3) and which of the 5 slots hold a triangle."""
    edges = np.zeros((len(_TRIANGLE_TABLE), _MAX_TRIANGLES, 3), dtype=np.intp)
    used = np.zeros((len(_TRIANGLE_TABLE), _MAX_TRIANGLES), dtype=bool)
    for case, code in enumerate(_TRIANGLE_TABLE):
        digits = [int(c, 16) for c in code]
        for t in range(len(digits) // 3):
            edges[case, t] = digits[3 * t : 3 * t + 3]
            used[case, t] = True
    return edges, used


_TRIANGLE_EDGES, _TRIANGLE_USED = _triangle_edges()


def corner_codes(padded: np.ndarray) -> np.ndarray:
    """For every 2x2(x2) cell of the padded mask (indexed by its lowest corner), a uint8 whose bit
    ``sum(offset[k] << (ndim - 1 - k))`` is the mask at that corner offset: built axis by axis in a few
    shift-or passes rather than one pass per corner. :func:`layout_to_case` maps it to PyRadiomics' numbering.
    """
    code = (padded != 0).view(np.uint8)
    for axis in range(padded.ndim - 1, -1, -1):
        low = [slice(None)] * padded.ndim
        high = [slice(None)] * padded.ndim
        low[axis] = slice(None, -1)
        high[axis] = slice(1, None)
        code = code[tuple(low)] | (code[tuple(high)] << np.uint8(1 << (padded.ndim - 1 - axis)))
    return code


def layout_to_case(corners: np.ndarray) -> np.ndarray:
    """PyRadiomics' case index for every :func:`corner_codes` value; ``corners[k]`` is the offset of its bit k."""
    ndim = corners.shape[1]
    weights = 1 << np.arange(ndim - 1, -1, -1)
    layout_bit = (corners.astype(int) * weights).sum(axis=1)  # bit of corner k in the corner_codes layout
    codes = np.arange(1 << len(corners))
    return sum(((codes >> int(bit)) & 1) << k for k, bit in enumerate(layout_bit))


# corner_codes value -> row of the 128-case table and orientation sign (a cube whose 8th corner is set uses the
# triangles of its complement, with the normals flipped).
_CASE = layout_to_case(_CORNERS)
_CASE_ROW = np.where(_CASE & 0x80, _CASE ^ 0xFF, _CASE)
_CASE_SIGN = np.where(_CASE & 0x80, -1.0, 1.0)


@functools.lru_cache(maxsize=64)
def _case_tables(spacing: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per :func:`corner_codes` value (256): total triangle area, signed volume of the tetrahedra to the cube's
    origin, and the signed sum of doubled area normals.

    For a cube whose origin is at ``p`` (physical), its contribution to 6x the mesh volume is
    ``volume[code] + p . normal[code]``.
    """
    points = _EDGE_MIDPOINTS * np.array(spacing)
    a = points[_TRIANGLE_EDGES[..., 0]]
    b = points[_TRIANGLE_EDGES[..., 1]]
    c = points[_TRIANGLE_EDGES[..., 2]]
    used = _TRIANGLE_USED
    area = 0.5 * np.sqrt(np.sum(np.cross(a - c, b - c) ** 2, axis=-1))
    volume = np.einsum("ctk,ctk->ct", np.cross(a, b), c)
    normal = np.cross(b - a, c - a)
    area = np.where(used, area, 0.0).sum(axis=1)
    volume = np.where(used, volume, 0.0).sum(axis=1)
    normal = np.where(used[..., None], normal, 0.0).sum(axis=1)
    return area[_CASE_ROW], _CASE_SIGN * volume[_CASE_ROW], _CASE_SIGN[:, None] * normal[_CASE_ROW]


def cell_position_sums(codes: np.ndarray, cells: np.ndarray, bins: int = 256) -> list[np.ndarray]:
    """For each axis, the sum over ``cells`` (flat indices into ``codes``) of their index on that axis, per code
    value (``bins`` of them): with these, the sum over cells of ``position . table[code]`` is a few dot products."""
    sums = []
    code = codes.ravel()[cells]
    rest = cells
    for axis in range(codes.ndim - 1, -1, -1):
        rest, index = np.divmod(rest, codes.shape[axis]) if axis else (None, rest)
        sums.append(np.bincount(code, weights=index, minlength=bins))
    return sums[::-1]


def mesh_area_volume(padded: np.ndarray, spacing: np.ndarray) -> tuple[float, float]:
    """Surface area and volume of PyRadiomics' marching-cubes mesh of a zero-padded mask (spacing in z, y, x).

    Only cubes the surface passes through (neither empty nor full) contribute.
    """
    codes = corner_codes(padded)
    area_table, volume_table, normal_table = _case_tables(tuple(float(v) for v in spacing))
    flat = codes.ravel()
    cells = np.flatnonzero((flat != 0) & (flat != 0xFF))
    counts = np.bincount(flat[cells], minlength=256)
    area = float(counts @ area_table)
    volume = float(counts @ volume_table)
    for axis, sums in enumerate(cell_position_sums(codes, cells)):
        volume += float(spacing[axis] * (normal_table[:, axis] @ sums))
    return area, volume / 6


# ------------------------------------------------------------------ maximum diameters
def _flat_coordinates(flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Index coordinates (one row per point) of C-order flat indices (faster than ``np.nonzero`` on 3D masks)."""
    return np.stack(np.unravel_index(flat, shape), axis=1)


def boundary_midpoints(padded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mesh vertices that can be convex-hull vertices of all vertices or of those in one axis-aligned plane.

    PyRadiomics' mesh vertices are the midpoints of all edges between an ROI voxel and a background voxel.
    A vertex on an edge along axis ``f`` has an odd doubled coordinate on ``f`` only, so every lattice line
    through it holds only vertices on edges along ``f``. A hull vertex (of all vertices, or of those in one
    plane) is never strictly between two others on a line, so it is the first or last vertex on every line
    through it (every in-plane line, for a plane's hull). Only vertices that are first or last along at least
    two axes are returned: their doubled index coordinates (int, one row per vertex; exact, so equal
    coordinates compare exactly) and, per axis, whether they are first or last along it.
    """
    ndim = padded.ndim
    points, extremes = [], []
    for f in range(ndim):
        low = [slice(None)] * ndim
        high = [slice(None)] * ndim
        low[f] = slice(None, -1)
        high[f] = slice(1, None)
        edges = padded[tuple(low)] != padded[tuple(high)]
        flat = np.flatnonzero(edges)
        extreme = np.zeros((len(flat), ndim), dtype=bool)
        for a in range(ndim):
            length = edges.shape[a]
            # Flat indices in an order that runs along axis a (a moved last), so each line is one run.
            along = flat if a == ndim - 1 else np.flatnonzero(np.ascontiguousarray(np.moveaxis(edges, a, -1)))
            line = along // length
            change = line[1:] != line[:-1]
            ends = np.ones(len(line), dtype=bool)
            ends[1:-1] = change[:-1] | change[1:]
            if a == ndim - 1:
                extreme[:, a] = ends
                continue
            inner = int(np.prod(edges.shape[a + 1 :], dtype=np.int64))
            rest, position = np.divmod(along[ends], length)
            outer, inner_index = np.divmod(rest, inner)
            marked = np.zeros(edges.size, dtype=bool)
            marked[(outer * length + position) * inner + inner_index] = True
            extreme[:, a] = marked[flat]
        keep = np.count_nonzero(extreme, axis=1) >= 2
        doubled = _flat_coordinates(flat[keep], edges.shape) * 2
        doubled[:, f] += 1
        points.append(doubled)
        extremes.append(extreme[keep])
    return np.concatenate(points), np.concatenate(extremes)


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise squared distances summed coordinate by coordinate in order, as PyRadiomics' C loop does."""
    total = None
    for k in range(a.shape[1]):
        diff = a[:, None, k] - b[None, :, k]
        total = diff * diff if total is None else total + diff * diff
    return total


def _paired_squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared distances between ``a[i]`` and ``b[i]`` (any leading shape), in PyRadiomics' summation order."""
    total = None
    for k in range(a.shape[-1]):
        diff = a[..., k] - b[..., k]
        total = diff * diff if total is None else total + diff * diff
    return total


# Block sizes (pairs) of the all-pairs comparisons, to bound memory.
_PAIRS_PER_BLOCK = 2_000_000


def _block_max_squared_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Largest squared distance between a row of ``a`` and a row of ``b``, in blocks of rows of ``a``."""
    best = 0.0
    chunk = max(1, _PAIRS_PER_BLOCK // max(1, len(b)))
    for start in range(0, len(a), chunk):
        best = max(best, float(_squared_distances(a[start : start + chunk], b).max()))
    return best


def _all_pairs_max_squared_distance(points: np.ndarray) -> float:
    """Largest squared distance between any two rows (each pair once)."""
    best = 0.0
    chunk = max(1, _PAIRS_PER_BLOCK // len(points))
    for start in range(0, len(points) - 1, chunk):
        block = _squared_distances(points[start : start + chunk], points[start + 1 :])
        best = max(best, float(block.max()))
    return best


# Below these sizes comparing all pairs is cheaper than pruning first.
_BRUTE_FORCE_LIMIT = {2: 48, 3: 128}
# Search directions of the exact farthest-pair search: evenly spaced angles in a plane (any line is within
# pi/48 of one) and a 7 x 7 grid on each of three cube faces in 3D (any line within 11.5 degrees of one).
_PLANE_SEARCH_DIRECTIONS = 24
_FACE_GRID = 7
# Relative slack of the directional pruning tests: far above the rounding of the computed projections and
# bounds (~1e-15 relative), so no pair within rounding of the longest one is ever pruned, and the maximum
# equals, bit for bit, the largest rounded squared distance over all pairs.
_PRUNE_SLACK = 1e-7


@functools.cache
def _search_directions(ndim: int) -> tuple[np.ndarray, float]:
    """Unit directions ``(ndim, K)`` such that every line is within angle ``theta`` of one of them, and
    ``cos(theta)``.

    2D: ``K = _PLANE_SEARCH_DIRECTIONS`` angles ``k pi / K``; a line's angle (modulo pi) is within ``pi / 2K``
    of one. 3D: an ``m x m`` grid of cell centres on each of the faces ``x_i = 1`` of the cube ``[-1, 1]^3``,
    normalised. A line's direction, scaled so that its largest coordinate (in magnitude) is +1, lies on one of
    those faces, within ``h / 2`` of a grid point on each face axis (``h = 2 / m``), so at most
    ``d = h / sqrt(2)`` from it in the face plane; a segment of length ``d`` in a plane at distance 1 from the
    origin subtends at most ``2 atan(d / 2)``, the angle bound.
    """
    if ndim == 2:
        count = _PLANE_SEARCH_DIRECTIONS
        angles = np.arange(count) * (math.pi / count)
        directions = np.stack([np.cos(angles), np.sin(angles)])
        cos_theta = math.cos(math.pi / (2 * count))
    else:
        m = _FACE_GRID
        grid = -1.0 + (np.arange(m) + 0.5) * (2.0 / m)
        first, second = (values.ravel() for values in np.meshgrid(grid, grid, indexing="ij"))
        faces = []
        for axis in range(ndim):
            face = np.empty((ndim, m * m))
            face[axis] = 1.0
            others = [k for k in range(ndim) if k != axis]
            face[others[0]], face[others[1]] = first, second
            faces.append(face)
        directions = np.concatenate(faces, axis=1)
        directions /= np.sqrt((directions * directions).sum(axis=0))
        cos_theta = math.cos(2 * math.atan(1 / (math.sqrt(2) * m)))
    directions.setflags(write=False)
    return directions, cos_theta


def max_squared_distance(points: np.ndarray) -> float:
    """Largest squared distance between any two rows of ``points`` (2 or 3 columns; 0 for fewer than two rows).

    Exact: equal to comparing all pairs. Small sets are compared pair by pair; larger ones are first cut down
    to the points that can be an end of a pair as long as one already found (:func:`_diametral_candidates`),
    and the rest searched direction by direction (:func:`_directional_max_squared_distance`).
    """
    count = len(points)
    if count < 2:
        return 0.0
    limit = _BRUTE_FORCE_LIMIT.get(points.shape[1], 128)
    if count <= limit:
        return _all_pairs_max_squared_distance(points)
    points, best = _diametral_candidates(points)
    if len(points) <= limit or points.shape[1] not in (2, 3):
        return max(best, _all_pairs_max_squared_distance(points))
    return _directional_max_squared_distance(points, best)


def _diametral_candidates(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The points that can be an end of a farthest pair, and the squared length of a pair found on the way.

    With ``c`` the bounding-box centre, ``R`` the largest distance from it and ``L`` the length of some pair,
    both ends of any pair at least ``L`` long are at least ``L - R`` from ``c`` (triangle inequality). A long
    pair (the point farthest from ``c`` and the point farthest from that one) usually leaves only a few points.
    """
    centre = (points.min(axis=0) + points.max(axis=0)) / 2
    radius = np.sqrt(_squared_distances(centre[None, :], points)[0])
    start = points[np.argmax(radius)]
    squared = float(_squared_distances(start[None, :], points)[0].max())
    length = math.sqrt(squared)
    return points[radius >= length - float(radius.max()) - 1e-9 * length], squared


def _directional_max_squared_distance(points: np.ndarray, best: float) -> float:
    """Largest squared distance between two rows of ``points``, given the squared length ``best`` of one pair.

    Every pair ``(p, q)`` at least ``L = sqrt(best)`` long lies within angle ``theta`` of one of the search
    directions ``u`` (:func:`_search_directions`), oriented so that ``(p - q) . u >= |p - q| cos(theta)
    >= L cos(theta)``. As every projection lies between the smallest (``low``) and largest (``high``) one on
    ``u``, ``p`` projects at least ``low + L cos(theta)`` ("top" end of ``u``), ``q`` at most
    ``high - L cos(theta)`` ("bottom" end), and ``high - low >= L cos(theta)``. So only directions that long
    need searching, and on each only pairs of a top and a bottom point: for a long pair both ends sit in thin
    slabs at the two ends of the projection range. The extreme points of every direction are compared first,
    which makes ``L`` nearly the answer and the slabs thin. The search is exhaustive over those slabs, hence
    exact; the slack (``_PRUNE_SLACK``, against rounding) only keeps a few more points.
    """
    directions, cos_theta = _search_directions(points.shape[1])
    centred = points - (points.min(axis=0) + points.max(axis=0)) / 2
    projected = directions.T @ centred.T  # (K, points): one row per direction
    lowest, highest = projected.argmin(axis=1), projected.argmax(axis=1)
    every = np.arange(len(projected))
    low, high = projected[every, lowest], projected[every, highest]
    best = max(best, float(_paired_squared_distances(points[highest], points[lowest]).max()))
    reach = math.sqrt(best) * cos_theta * (1 - _PRUNE_SLACK)
    long_enough = np.flatnonzero(high - low >= reach)
    projected = projected[long_enough]
    top = projected >= (low[long_enough] + reach)[:, None]  # (directions, points)
    bottom = projected <= (high[long_enough] - reach)[:, None]
    top_sizes, bottom_sizes = np.count_nonzero(top, axis=1), np.count_nonzero(bottom, axis=1)
    both = (top_sizes > 0) & (bottom_sizes > 0)  # (rounding could empty an end of a borderline direction)
    top, bottom, top_sizes, bottom_sizes = top[both], bottom[both], top_sizes[both], bottom_sizes[both]
    in_top, in_bottom = np.flatnonzero(top.any(axis=0)), np.flatnonzero(bottom.any(axis=0))
    if len(in_top) * len(in_bottom) <= len(top_sizes) * int(top_sizes.max()) * int(bottom_sizes.max()):
        # Few distinct points: every top point against every bottom point.
        return max(best, _block_max_squared_distance(points[in_top], points[in_bottom]))
    # Many points spread over many directions (round shapes): each direction's own top x bottom pairs.
    return max(best, _slab_pairs_max_squared_distance(points, top, bottom, top_sizes, bottom_sizes))


def _padded_members(members: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per row of the boolean ``(directions, points)`` matrix (``sizes`` true entries each, all nonzero), the
    indices of its true columns, padded to a common width by repeating the row's last index (repeats pairs)."""
    index = np.nonzero(members)[1]
    starts = np.cumsum(sizes) - sizes
    take = starts[:, None] + np.minimum(np.arange(int(sizes.max()))[None, :], sizes[:, None] - 1)
    return index[take]


def _slab_pairs_max_squared_distance(
    points: np.ndarray, top: np.ndarray, bottom: np.ndarray, top_sizes: np.ndarray, bottom_sizes: np.ndarray
) -> float:
    """Largest squared distance between a top and a bottom point of the same direction, directions batched."""
    top_index, bottom_index = _padded_members(top, top_sizes), _padded_members(bottom, bottom_sizes)
    coordinates = np.ascontiguousarray(points.T)
    batch = max(1, _PAIRS_PER_BLOCK // (top_index.shape[1] * bottom_index.shape[1]))
    best = 0.0
    for start in range(0, len(top_index), batch):
        rows = slice(start, start + batch)
        total = None
        for axis in coordinates:
            diff = axis[top_index[rows]][:, :, None] - axis[bottom_index[rows]][:, None, :]
            total = diff * diff if total is None else total + diff * diff
        best = max(best, float(total.max()))
    return best


def _batched_max_squared_distance(points: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> float:
    """Largest squared distance within any of several small groups ``points[start : start + size]``, at once.

    Groups are padded to a common size by repeating their last point, which adds only in-group distances.
    """
    width = int(sizes.max())
    index = starts[:, None] + np.minimum(np.arange(width)[None, :], sizes[:, None] - 1)
    groups = points[index]  # (groups, width, 2)
    total = None
    for k in range(points.shape[1]):
        diff = groups[:, :, None, k] - groups[:, None, :, k]
        total = diff * diff if total is None else total + diff * diff
    return float(total.max())


_DIRECTIONS = 8
# Planes are searched in batches, most promising first; planes of up to _BATCH_POINTS candidate vertices are
# compared all at once, larger ones one by one (pruned, then searched along directions: max_squared_distance).
_PLANES_PER_BATCH = 16
_BATCH_POINTS = 128
_ANGLES = np.arange(_DIRECTIONS) * (np.pi / _DIRECTIONS)
_PROJECTIONS = np.stack([np.cos(_ANGLES), np.sin(_ANGLES)])  # (2, K) in-plane unit directions
# A pair's direction is within pi/(2K) of one of the K directions, so diameter <= max extent / cos(pi/(2K)).
_EXTENT_SLACK = (1 / math.cos(math.pi / (2 * _DIRECTIONS))) * (1 + 1e-9)


def _runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of every run of equal values in ``keys`` (sorted)."""
    change = np.empty(len(keys), dtype=bool)
    change[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    return starts, np.diff(starts, append=len(keys))


def max_plane_squared_distances(doubled: np.ndarray, physical: np.ndarray, extreme: np.ndarray) -> list[float]:
    """For each axis, the largest squared distance between two vertices with the same coordinate on that axis.

    Vertices are grouped into planes by their (exact, doubled-integer) coordinate; only those extreme on their
    in-plane lattice lines can be in-plane hull vertices. Every plane's extents along K in-plane directions
    bound its diameter from below (largest extent) and above (largest extent over cos(pi/2K)); the largest
    extent ``L`` of all planes is a lower bound of the answer. A plane whose upper bound is below ``L`` is
    dropped, and in the others only vertices at least ``L - R`` from the plane's bounding-box centre are kept
    (``R``: the plane's largest distance from that centre; see :func:`_diametral_candidates`). The remaining
    planes are searched exactly, in batches, most promising first, until none can beat the best found.
    """
    results = []
    for axis in range(3):
        in_plane = [k for k in range(3) if k != axis]
        order = np.flatnonzero(extreme[:, in_plane].all(axis=1))
        if len(order) < 2:
            results.append(0.0)
            continue
        order = order[np.argsort(doubled[order, axis], kind="stable")]
        keys = doubled[order, axis]
        points = physical[order][:, in_plane]
        starts, sizes = _runs(keys)
        projected = _PROJECTIONS.T @ points.T  # (K, points): reduceat runs along contiguous rows
        extent = (np.maximum.reduceat(projected, starts, axis=1) - np.minimum.reduceat(projected, starts, axis=1))
        extent = extent.max(axis=0)
        upper_squared = (extent * _EXTENT_SLACK) ** 2
        lower = float(extent.max()) * (1 - 1e-9)
        coordinates = points.T
        high = np.maximum.reduceat(coordinates, starts, axis=1)
        centre = (high + np.minimum.reduceat(coordinates, starts, axis=1)) / 2
        plane_of = np.repeat(np.arange(len(starts)), sizes)
        offset = coordinates - centre[:, plane_of]
        radius = np.sqrt(offset[0] * offset[0] + offset[1] * offset[1])
        far = np.maximum.reduceat(radius, starts)
        keep = (radius >= lower - far[plane_of]) & (upper_squared >= lower * lower)[plane_of]
        points, plane_of = points[keep], plane_of[keep]
        starts, sizes = _runs(plane_of)
        upper_squared = upper_squared[plane_of[starts]]
        best = 0.0
        by_promise = np.argsort(-upper_squared, kind="stable")
        for first in range(0, len(by_promise), _PLANES_PER_BATCH):
            batch = by_promise[first : first + _PLANES_PER_BATCH]
            batch = batch[upper_squared[batch] >= best]
            if not len(batch):
                break
            small = sizes[batch] <= _BATCH_POINTS
            if small.any():
                best = max(best, _batched_max_squared_distance(points, starts[batch[small]], sizes[batch[small]]))
            for plane in batch[~small]:
                best = max(best, max_squared_distance(points[starts[plane] : starts[plane] + sizes[plane]]))
        results.append(best)
    return results


# ------------------------------------------------------------------ principal moments
def principal_moments(padded: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of the covariance of the ROI voxels' physical coordinates, as PyRadiomics has them.

    The arithmetic follows PyRadiomics step for step (same coordinate layout, centring, scaling, product and
    general eigen solver): flat or line-like ROIs have eigenvalues that are pure rounding noise, and the axis
    lengths take their square roots, so any other recipe would disagree far beyond rounding.
    """
    coordinates = np.array(np.unravel_index(np.flatnonzero(padded), padded.shape), dtype="int").transpose((1, 0))
    count = len(coordinates)
    physical = coordinates * spacing[None, :]
    physical -= np.mean(physical, axis=0)
    physical /= np.sqrt(count)
    covariance = np.dot(physical.T.copy(), physical)
    eigenvalues = np.linalg.eigvals(covariance)
    eigenvalues[(eigenvalues < 0) & (eigenvalues > -1e-10)] = 0  # PyRadiomics rounds tiny negatives to 0
    eigenvalues.sort()
    return eigenvalues


def axis_length(eigenvalue) -> float:
    """4 sqrt(eigenvalue); NaN for a negative eigenvalue (PyRadiomics logs a warning and returns NaN)."""
    if eigenvalue < 0:
        return math.nan
    return float(np.real(np.sqrt(eigenvalue) * 4))


def axis_ratio(small, large) -> float:
    """sqrt(small / large); NaN if either is negative (0/0 also gives NaN, as in NumPy)."""
    if small < 0 or large < 0:
        return math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.real(np.sqrt(small / large)))


# ------------------------------------------------------------------ the feature class
class _Shape:
    """Lazily computed mesh, diameters and moments of one ROI (each only if a requested feature needs it)."""

    def __init__(self, region: Region):
        if region.mask.ndim != 3:
            raise ValueError("Shape features are only available in 3D. If 2D, use shape2D instead")
        self.padded = np.pad(region.mask, 1)
        self.spacing = np.array(region.spacing[::-1], dtype=float)
        self._mesh = None
        self._diameters = None
        self._eigenvalues = None

    @property
    def area(self) -> float:
        if self._mesh is None:
            self._mesh = mesh_area_volume(self.padded, self.spacing)
        return self._mesh[0]

    @property
    def volume(self) -> float:
        if self._mesh is None:
            self._mesh = mesh_area_volume(self.padded, self.spacing)
        return self._mesh[1]

    def diameter(self, which: int) -> float:
        """Maximum diameter: 0 slice (same z), 1 column (same y), 2 row (same x), 3 overall."""
        if self._diameters is None:
            doubled, extreme = boundary_midpoints(self.padded)
            physical = (doubled / 2.0) * self.spacing
            overall = max_squared_distance(physical[extreme.all(axis=1)])
            squared = max_plane_squared_distances(doubled, physical, extreme) + [overall]
            self._diameters = [math.sqrt(value) for value in squared]
        return self._diameters[which]

    @property
    def eigenvalues(self) -> np.ndarray:
        if self._eigenvalues is None:
            self._eigenvalues = principal_moments(self.padded, self.spacing)
        return self._eigenvalues

    def voxel_volume(self) -> float:
        z, y, x = self.spacing
        return float(np.count_nonzero(self.padded) * (z * x * y))

    def sphere_surface(self) -> float:
        """Surface of the sphere with the mesh's volume: (36 pi V^2)^(1/3)."""
        return (36 * math.pi * self.volume**2) ** (1.0 / 3.0)


_FORMULAS: dict[str, Callable[[_Shape], float]] = {
    "MeshVolume": lambda s: s.volume,
    "VoxelVolume": lambda s: s.voxel_volume(),
    "SurfaceArea": lambda s: s.area,
    "SurfaceVolumeRatio": lambda s: s.area / s.volume,
    "Sphericity": lambda s: s.sphere_surface() / s.area,
    "Compactness1": lambda s: s.volume / (s.area ** (3.0 / 2.0) * math.sqrt(math.pi)),
    "Compactness2": lambda s: (36.0 * math.pi) * (s.volume**2.0) / (s.area**3.0),
    "SphericalDisproportion": lambda s: s.area / s.sphere_surface(),
    "Maximum3DDiameter": lambda s: s.diameter(3),
    "Maximum2DDiameterSlice": lambda s: s.diameter(0),
    "Maximum2DDiameterColumn": lambda s: s.diameter(1),
    "Maximum2DDiameterRow": lambda s: s.diameter(2),
    "MajorAxisLength": lambda s: axis_length(s.eigenvalues[2]),
    "MinorAxisLength": lambda s: axis_length(s.eigenvalues[1]),
    "LeastAxisLength": lambda s: axis_length(s.eigenvalues[0]),
    "Elongation": lambda s: axis_ratio(s.eigenvalues[1], s.eigenvalues[2]),
    "Flatness": lambda s: axis_ratio(s.eigenvalues[0], s.eigenvalues[2]),
}


def compute(region: Region, names: Sequence[str]) -> dict[str, float]:
    """PyRadiomics' shape features ``names`` of the ROI (the unfiltered crop; gray levels are not used).

    Deprecated features (Compactness1, Compactness2, SphericalDisproportion) are computed when asked for by
    name, as PyRadiomics does.
    """
    return evaluate(names, FEATURES, _FORMULAS, lambda: _Shape(region), skip_deprecated=False, real_part=True)
