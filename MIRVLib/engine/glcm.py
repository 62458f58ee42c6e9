"""Gray Level Co-occurrence Matrix features: PyRadiomics' ``glcm`` class, computed natively with NumPy.

A GLCM counts, for one offset ("angle"), how often an ROI voxel of gray level i has an ROI neighbour of gray
level j at that offset. PyRadiomics builds one dense matrix per angle in C (``calculate_glcm``); here every
ROI voxel reads its neighbour at each angle's flat offset in the padded crop, and the pair codes (angle, i,
j) are counted at once, over the gray levels present only, keeping just the non-empty cells: a GLCM of a
small ROI with many gray levels is mostly empty, and every sum over its cells skips the empty ones.

After the counts everything follows ``radiomics/glcm.py``: symmetrisation (P + P^T), optional distance
weighting (the angles merged into one matrix), angles without pairs dropped (unless merged), normalisation,
one value per angle and ``nanmean`` over angles. Each feature keeps PyRadiomics' floating-point operations
and their order, so NumPy rounds every sum the same way and the features equal PyRadiomics' to the last bit
(cancellation-prone ones such as cluster shade, correlation or IMC1/IMC2 included; MCC within a few units in
the last place, see :func:`maximal_correlation`). The order of a NumPy sum over (i, j) depends on the memory
layout PyRadiomics' ``np.delete`` calls leave (see :class:`_CellGlcm`); the common layouts are reproduced on
the non-empty cells, the rare ones (a weighted or single matrix, two or more angles without pairs) take
PyRadiomics' dense route (:class:`_DenseGlcm`).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

import numpy as np

from MIRVLib.engine.features import angle_candidates, force2d_dimension, requested
from MIRVLib.engine.region import Region

# Every feature PyRadiomics' RadiomicsGLCM defines -> deprecated? Alphabetical = PyRadiomics' default order.
FEATURES: dict[str, bool] = {
    "Autocorrelation": False,
    "ClusterProminence": False,
    "ClusterShade": False,
    "ClusterTendency": False,
    "Contrast": False,
    "Correlation": False,
    "DifferenceAverage": False,
    "DifferenceEntropy": False,
    "DifferenceVariance": False,
    "Dissimilarity": True,  # = DifferenceAverage
    "Homogeneity1": True,  # = Id
    "Homogeneity2": True,  # = Idm
    "Id": False,
    "Idm": False,
    "Idmn": False,
    "Idn": False,
    "Imc1": False,
    "Imc2": False,
    "InverseVariance": False,
    "JointAverage": False,
    "JointEnergy": False,
    "JointEntropy": False,
    "MCC": False,
    "MaximumProbability": False,
    "SumAverage": False,
    "SumEntropy": False,
    "SumSquares": False,
    "SumVariance": True,  # = ClusterTendency
}

EPS = np.spacing(1)  # PyRadiomics' epsilon inside logarithms and denominators

# MCC's second eigenvalue below which Q is rebuilt in PyRadiomics' exact order (see maximal_correlation).
_MCC_EXACT_BELOW = 1e-3

# Largest (angles x ROI voxels) neighbour lookup done in one go; bigger ROIs are counted a few angles at a time.
_CHUNK = 1 << 22

# Pairs are counted into dense (angle, i, j) tables up to this many table cells per neighbour lookup, else the
# non-empty cells are found by sorting the pair codes (small ROIs with many gray levels).
_TABLE_CELLS_PER_LOOKUP = 4

# Matrices whose fullest angle has at least this fraction of its cells non-empty are kept whole (every cell).
_FULL_FILL = 0.5

# Elements of p_x p_y formed at once for HXY2 (a few rows of the matrices: the block stays in cache).
_OUTER_BLOCK = 1 << 15


# ---------------------------------------------------------------- angles
def angles(shape: Sequence[int], distances: Sequence[int] = (1,), force2d_dimension: int = -1) -> np.ndarray:
    """PyRadiomics' GLCM offsets for a crop of ``shape``, in its order (``generate_angles``, mono-directional).

    Candidate offsets run from +d_max down to -d_max per axis, the first axis slowest. An offset is valid when
    it fits in the crop (|offset| < size), does not move along ``force2d_dimension`` and its infinity norm is
    one of ``distances``. PyRadiomics counts how many angles it wants (half the valid set per requested
    distance, sizes permitting) and takes that many valid candidates in order, cycling through the candidates
    again if needed, which only happens when a distance is listed twice (then both directions are kept).
    """
    dist = np.asarray(distances)
    if dist.ndim != 1:
        raise ValueError("Expecting distances array to be 1-dimensional.")
    # PyRadiomics casts to C int (truncating); the result only depends on these, so it is cached.
    return _angles(tuple(int(n) for n in shape), tuple(dist.astype(np.intc).tolist()), int(force2d_dimension))


@functools.lru_cache(maxsize=256)
def _angles(shape: tuple[int, ...], distances: tuple[int, ...], force2d_dimension: int) -> np.ndarray:
    candidates, count = angle_candidates(shape, distances, force2d_dimension)
    count //= 2  # mono-directional
    if count == 0:
        raise RuntimeError("Error getting angle count.")
    result = candidates[np.arange(count) % len(candidates)]
    result.flags.writeable = False  # shared by every caller through the cache
    return result


def angle_weights(offsets: np.ndarray, spacing_zyx: Sequence[float], norm: str) -> np.ndarray:
    """PyRadiomics' distance weights exp(-||offset in mm||^2) per angle; unknown norms weigh 1 ('no_weighting')."""
    scaled = np.abs(offsets) * np.asarray(spacing_zyx, dtype=float)
    if norm == "infinity":
        return np.exp(-scaled.max(1) ** 2)
    if norm == "euclidean":
        return np.exp(-np.sum(scaled**2, 1))
    if norm == "manhattan":
        return np.exp(-np.sum(scaled, 1) ** 2)
    return np.ones(len(offsets))


# ---------------------------------------------------------------- matrix
def _neighbour_levels(levels: np.ndarray, offsets: np.ndarray):
    """Yield (first angle, end angle, centre levels (V,), neighbour levels (angles, V)), a few angles at a time.

    ``levels`` holds 1.. on ROI voxels and 0 elsewhere. The crop is padded by the largest offset per axis with
    0 ("no neighbour"), so a lookup at a flat offset never wraps around; every ROI voxel reads its neighbour at
    each angle's offset (very large ROIs a few angles at a time, to bound the memory).
    """
    pad = np.abs(offsets).max(0)
    padded = np.zeros(tuple(np.add(levels.shape, 2 * pad)), dtype=levels.dtype)
    padded[tuple(slice(p, p + n) for p, n in zip(pad.tolist(), levels.shape))] = levels
    flat = padded.ravel()
    strides = np.array(padded.strides) // padded.itemsize
    centres = np.flatnonzero(flat)
    steps = offsets @ strides
    per_chunk = max(1, _CHUNK // max(1, centres.size))
    for start in range(0, len(offsets), per_chunk):
        stop = min(len(offsets), start + per_chunk)
        yield start, stop, flat[centres], flat[centres[None, :] + steps[start:stop, None]]


def cooccurrences(region: Region, offsets: np.ndarray) -> np.ndarray:
    """Raw (asymmetric) co-occurrence counts, float64 of shape (Ng, Ng, angles), C-ordered like PyRadiomics' C output.

    Entry [i - 1, j - 1, a]: ROI voxels of gray level i whose neighbour at ``offsets[a]`` lies inside the crop
    and the ROI and has gray level j. All levels 1..Ng are kept, empty ones included.
    """
    ng = region.max_level
    cells = ng * (ng + 1)
    counts = np.zeros(len(offsets) * cells)
    for start, stop, centre, neighbour in _neighbour_levels(np.where(region.mask, region.gray_levels, 0), offsets):
        # cell code (angle, i, j); neighbour level 0 ("none") lands in a dump column dropped below
        codes = neighbour + (centre - 1) * (ng + 1) + (np.arange(stop - start) * cells)[:, None]
        counts[start * cells : stop * cells] = np.bincount(codes.ravel(), minlength=(stop - start) * cells)
    counts = counts.reshape(len(offsets), ng, ng + 1)[:, :, 1:]
    return np.ascontiguousarray(counts.transpose(1, 2, 0))


def _cell_counts(levels: np.ndarray, n: int, offsets: np.ndarray, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """The non-empty cells of every angle's count matrix: ascending codes (angle * n + i) * n + j and their counts.

    ``levels`` are compact levels 1..n on the ROI voxels (0 elsewhere: the matrices have no empty gray level to
    delete). Pairs are counted into (angle, i, j) tables with an extra row and column 0 that collect the
    voxels without a neighbour; symmetrising adds each table's transpose. The cells of a small ROI with
    many levels are instead found by sorting its pair codes (both orders when symmetric): counting into and
    scanning all angles x n x n cells would cost more.
    """
    cells, side = n * n, n + 1
    found_codes, found_counts = [], []
    for start, stop, centre, neighbour in _neighbour_levels(levels, offsets):
        n_chunk = stop - start
        if n_chunk * cells <= _TABLE_CELLS_PER_LOOKUP * neighbour.size:
            # (angle, i, j) with i, j = level (1..n), neighbour level 0 counted in column 0 and dropped
            codes = neighbour + (centre * side + np.arange(0, n_chunk * side * side, side * side)[:, None])
            table = np.bincount(codes.ravel(), minlength=n_chunk * side * side).reshape(n_chunk, side, side)
            table = table[:, 1:, 1:]
            if symmetric:
                table = table + table.transpose(0, 2, 1)
            table = table.ravel()
            found = np.flatnonzero(table != 0)
            found_codes.append(found + start * cells if start else found)
            found_counts.append(table[found])
            continue
        valid = neighbour > 0
        angle_first = np.arange(start * cells, stop * cells, cells)[:, None]
        # code of (angle, i, j) = angle * n * n + i * n + j with i = centre level - 1, j = neighbour level - 1
        codes = (angle_first + (centre * n - n - 1) + neighbour)[valid]
        if symmetric:
            codes = np.concatenate((codes, (angle_first + (centre - n - 1) + neighbour * n)[valid]))
        if codes.size == 0:
            continue
        codes.sort()
        starts = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
        found_codes.append(codes[starts])
        found_counts.append(np.diff(np.append(starts, codes.size)))
    if not found_codes:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    if len(found_codes) == 1:
        return found_codes[0], found_counts[0]
    return np.concatenate(found_codes), np.concatenate(found_counts)


def glcm_matrices(region: Region) -> np.ndarray:
    """Normalised GLCMs (levels present, levels present, angles) as PyRadiomics' ``P_glcm`` (without its voxel axis).

    Empty gray levels removed; symmetrised if 'symmetricalGLCM' (default True); merged into one weighted
    matrix if 'weightingNorm' is set; angles without any pair dropped while more than one matrix remains; a
    matrix without pairs becomes NaN. Rows, columns and angles are removed with ``np.delete`` as PyRadiomics
    does because the memory layout it leaves decides NumPy's summation order in every later reduction:
    the same layout gives the same rounding, so cancellation-prone features match to the last bits.
    """
    settings = region.settings
    offsets = angles(region.gray_levels.shape, settings.get("distances", [1]), force2d_dimension(settings))
    p = cooccurrences(region, offsets)
    present = np.zeros(region.max_level, dtype=bool)
    present[region.present_levels - 1] = True
    empty = np.flatnonzero(~present)
    p = np.delete(np.delete(p, empty, 0), empty, 1)
    if settings.get("symmetricalGLCM", True):
        p += p.transpose(1, 0, 2).copy()
    norm = settings.get("weightingNorm", None)
    if norm is not None:
        weights = angle_weights(offsets, tuple(region.spacing)[::-1], norm)
        p = np.sum(p * weights, 2, keepdims=True)
    totals = np.sum(p, (0, 1))
    if p.shape[2] > 1:
        empty_angles = np.flatnonzero(totals == 0)
        if empty_angles.size:
            p = np.delete(p, empty_angles, 2)
            totals = np.delete(totals, empty_angles)
    totals[totals == 0] = np.nan
    p /= totals
    return p


def _glcm(region: Region) -> _Features:
    """The GLCMs of ``region`` with their features: as non-empty cells where PyRadiomics' summation order allows.

    ``np.delete`` leaves PyRadiomics' (i, j, angle) array C-ordered when it removes exactly one gray level,
    else with j outermost in memory; removing one angle makes it C-ordered again, removing two or more puts
    the angles outermost. NumPy sums over (i, j) in memory order: one cell after the other per angle while
    the angles are innermost (the common case, reproduced by :class:`_CellGlcm`), pairwise per angle
    otherwise, and pairwise for a single matrix (weighted, or one angle): those rare cases, where every cell
    takes part in the summation tree, take PyRadiomics' dense route (:class:`_DenseGlcm`).
    """
    settings = region.settings
    present, max_level = region.present_levels, region.max_level
    offsets = angles(region.gray_levels.shape, settings.get("distances", [1]), force2d_dimension(settings))
    n_angles = len(offsets)
    if settings.get("weightingNorm", None) is not None or n_angles == 1:
        return _DenseGlcm(glcm_matrices(region), present, max_level)

    n = present.size
    rank = np.zeros(max_level + 1, dtype=np.intp)
    rank[present] = np.arange(1, n + 1)
    symmetric = bool(settings.get("symmetricalGLCM", True))
    codes, counts = _cell_counts(rank[np.where(region.mask, region.gray_levels, 0)], n, offsets, symmetric)
    angle = codes // (n * n)
    cell = codes - angle * (n * n)  # i * n + j
    totals = np.bincount(angle, weights=counts, minlength=n_angles)  # pairs per angle (exact integers)
    empty = totals == 0
    dropped = int(np.count_nonzero(empty))
    if dropped > 1 or n_angles - dropped < 2:
        return _DenseGlcm(glcm_matrices(region), present, max_level)
    if dropped:
        angle = (np.cumsum(~empty) - 1)[angle]
        totals = totals[~empty]
    transposed = dropped == 0 and max_level - n != 1
    return _CellGlcm(present, max_level, cell, angle, counts / totals[angle], totals.size, symmetric, transposed)


# ---------------------------------------------------------------- features
@functools.lru_cache(maxsize=64)
def _inverse_denominators(ng: int) -> np.ndarray:
    """The denominators of Idm, Idmn, Id and Idn for k = |i - j| = 0 .. Ng - 1, shape (4, Ng, 1)."""
    k = np.arange(0, ng, dtype=float)[:, None]
    result = np.stack([1 + k**2, 1 + (k**2) / (ng**2), 1 + k, 1 + k / ng])
    result.flags.writeable = False  # shared through the cache
    return result


class _Features:
    """PyRadiomics' GLCM feature formulas, one method per feature, each returning one value per angle.

    The matrix representations below provide the coefficients (``px``, ``py``, ``ux``, ``uy``, ``p_sum``,
    ``p_diff``, ``hxy``, ``var_x``) and the sums over cells the formulas need; ``compute`` nan-averages
    the per-angle values.
    """

    ng: int  # PyRadiomics' Ng: the highest level, also where lower levels are missing

    @functools.cached_property
    def k_sum(self) -> np.ndarray:
        return np.arange(2, 2 * self.ng + 1, dtype=float)[:, None]

    @functools.cached_property
    def k_diff(self) -> np.ndarray:
        return np.arange(0, self.ng, dtype=float)[:, None]

    @functools.cached_property
    def diff_average(self) -> np.ndarray:
        return np.add.reduce(self.k_diff * self.p_diff, 0)

    def Autocorrelation(self):
        return self._autocorrelation()

    def JointAverage(self):
        return self.ux

    def ClusterProminence(self):
        return self._cluster(4)

    def ClusterShade(self):
        return self._cluster(3)

    def ClusterTendency(self):
        return self._cluster(2)

    def Contrast(self):
        return self._contrast()

    def Correlation(self):
        """Covariance over sigma_x sigma_y; 1 where an angle has no variance (flat region)."""
        sigma_x = self.var_x**0.5
        sigma_y = self._var_y() ** 0.5
        correlation = self._covariance() / (sigma_x * sigma_y + EPS)
        correlation[sigma_x * sigma_y == 0] = 1
        return correlation

    def DifferenceAverage(self):
        return self.diff_average

    def DifferenceEntropy(self):
        return -np.add.reduce(self.p_diff * np.log2(self.p_diff + EPS), 0)

    def DifferenceVariance(self):
        return np.add.reduce(self.p_diff * ((self.k_diff - self.diff_average) ** 2), 0)

    def JointEnergy(self):
        return self._energy()

    def JointEntropy(self):
        return self.hxy

    def Imc1(self):
        """(HXY - HXY1) / max(HX, HY); 0 where both marginal entropies are 0."""
        hx, hy = self._marginal_entropies()
        hxy1 = -self._cross_entropy()
        div = np.fmax(hx, hy)
        imc1 = self.hxy - hxy1
        nonzero = div != 0
        imc1[nonzero] /= div[nonzero]
        imc1[~nonzero] = 0
        return imc1

    def Imc2(self):
        """sqrt(1 - e^(-2 (HXY2 - HXY))); 0 where HXY2 == HXY, NaN (ignored by the mean) where HXY2 < HXY."""
        hxy2 = -self._independent_entropy()
        imc2 = (1 - np.e ** (-2 * (hxy2 - self.hxy))) ** 0.5
        imc2[hxy2 == self.hxy] = 0
        return imc2

    @functools.cached_property
    def _inverse_differences(self) -> np.ndarray:
        """Idm, Idmn, Id, Idn per angle: p_{x-y} over each denominator, summed over k (as one array)."""
        return np.add.reduce(self.p_diff / _inverse_denominators(self.ng), 1)

    def Idm(self):
        return self._inverse_differences[0]

    def Idmn(self):
        return self._inverse_differences[1]

    def Id(self):
        return self._inverse_differences[2]

    def Idn(self):
        return self._inverse_differences[3]

    def InverseVariance(self):
        return np.add.reduce(self.p_diff[1:] / self.k_diff[1:] ** 2, 0)

    def MaximumProbability(self):
        return self._maximum()

    def SumAverage(self):
        return np.add.reduce(self.k_sum * self.p_sum, 0)

    def SumEntropy(self):
        return -np.add.reduce(self.p_sum * np.log2(self.p_sum + EPS), 0)

    def SumSquares(self):
        return self.var_x

    def MCC(self):
        return maximal_correlation(self._dense_p(), self.px, self.py)


class _CellGlcm(_Features):
    """Several GLCMs (angles innermost in PyRadiomics' layout) held as (cells, angles) columns.

    Column a lists angle a's cells in row-major (i, j) order: either every cell (PyRadiomics' array with its
    first two axes merged; the cell ``index`` is then (n * n, 1)) or, for mostly empty matrices, only the
    non-empty ones, zero-padded at the end. ``np.add.reduce`` over the first axis adds them one after the
    other per angle, as NumPy does over PyRadiomics' (i, j) axes; an empty cell adds 0.0, which changes no sum.

    NumPy follows the memory order of PyRadiomics' array, which is column-major (j outermost) when
    ``transposed``, in the sums whose other factors broadcast along i or j (``ux``, ``uy``, variances,
    covariance, entropy, energy: the ``*_mem`` columns, the cells in that order), but row-major in those with
    a full (i, j) factor (cluster, autocorrelation, contrast, HXY1: ``p`` itself). For a symmetric matrix
    the column-major cells are the row-major ones with i and j swapped.
    """

    def __init__(
        self, levels: np.ndarray, max_level: int, cell: np.ndarray, angle: np.ndarray, p: np.ndarray,
        n_angles: int, symmetric: bool, transposed: bool,
    ) -> None:
        self.levels = levels
        self.ng = max_level
        self.n = n = levels.size
        self.n_angles = n_angles
        self.symmetric, self.transposed = symmetric, transposed
        self.angle = np.arange(n_angles)
        per_angle = np.bincount(angle, minlength=n_angles)
        longest = int(per_angle.max())
        self.full = longest >= _FULL_FILL * (n * n)
        if self.full:
            self.p = self._columns(cell * n_angles + angle, p, n * n)
            self.index = np.arange(n * n)[:, None]
        else:
            first = np.zeros(n_angles, dtype=np.intp)
            np.cumsum(per_angle[:-1], out=first[1:])
            self._slot = (np.arange(angle.size) - first[angle]) * n_angles + angle
            self.p = self._columns(self._slot, p, longest)
            self.index = self._columns(self._slot, cell, longest, np.intp)
            self._cells = (cell, angle, p, longest)

    def _columns(self, slots: np.ndarray, values: np.ndarray, length: int, dtype=float) -> np.ndarray:
        columns = np.zeros(length * self.n_angles, dtype=dtype)
        columns[slots] = values
        return columns.reshape(length, self.n_angles)

    # ---- cell attributes
    @functools.cached_property
    def row(self) -> np.ndarray:
        return self.index // self.n

    @functools.cached_property
    def col(self) -> np.ndarray:
        return self.index - self.row * self.n

    @functools.cached_property
    def gi(self) -> np.ndarray:
        return self.levels[self.row].astype(float)

    @functools.cached_property
    def gj(self) -> np.ndarray:
        return self.levels[self.col].astype(float)

    @functools.cached_property
    def diff_key(self) -> np.ndarray:
        """|i - j| (row of p_{x-y}) per cell."""
        return np.abs(self.levels[self.row] - self.levels[self.col])

    @functools.cached_property
    def sum_key(self) -> np.ndarray:
        """i + j - 2 (row of p_{x+y}) per cell."""
        return self.levels[self.row] + self.levels[self.col] - 2

    @functools.cached_property
    def _mem(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """p, i and j of the cells in PyRadiomics' memory order (see the class docstring)."""
        if not self.transposed:
            return self.p, self.gi, self.gj
        if self.symmetric:
            return self.p, self.gj, self.gi
        n, gray = self.n, self.levels.astype(float)
        if self.full:
            p = np.ascontiguousarray(self.p.reshape(n, n, self.n_angles).transpose(1, 0, 2)).reshape(n * n, -1)
            return p, np.tile(gray, n)[:, None], np.repeat(gray, n)[:, None]  # cell j * n + i
        cell, angle, values, longest = self._cells
        order = np.argsort(angle * (n * n) + (cell % n) * n + cell // n)  # (angle, j, i) order
        p = self._columns(self._slot, values[order], longest)
        index = self._columns(self._slot, cell[order], longest, np.intp)
        return p, gray[index // n], gray[index % n]

    # ---- coefficients
    @functools.cached_property
    def px(self) -> np.ndarray:
        """p_x, shape (n, 1, angles) as PyRadiomics' ``P.sum(j, keepdims=True)`` (j added in order)."""
        if self.full:
            return self.p.reshape(self.n, self.n, self.n_angles).sum(1, keepdims=True)
        codes = (self.row * self.n_angles + self.angle).ravel()
        return np.bincount(codes, self.p.ravel(), self.n * self.n_angles).reshape(self.n, 1, -1)

    @functools.cached_property
    def py(self) -> np.ndarray:
        """p_y, shape (1, n, angles)."""
        if self.full:
            return self.p.reshape(self.n, self.n, self.n_angles).sum(0, keepdims=True)
        codes = (self.col * self.n_angles + self.angle).ravel()
        return np.bincount(codes, self.p.ravel(), self.n * self.n_angles).reshape(1, self.n, -1)

    @functools.cached_property
    def p_sum(self) -> np.ndarray:
        """p_{x+y}(k) for k = 2 .. 2 Ng, shape (2 Ng - 1, angles).

        PyRadiomics sums a boolean-masked copy of the cells (row-major order) along the cell axis, one cell
        after the other per angle: ``np.bincount`` does the same additions (so for p_{x-y}).
        """
        codes = (self.sum_key * self.n_angles + self.angle).ravel()
        return np.bincount(codes, self.p.ravel(), (2 * self.ng - 1) * self.n_angles).reshape(-1, self.n_angles)

    @functools.cached_property
    def p_diff(self) -> np.ndarray:
        """p_{x-y}(k) for k = 0 .. Ng - 1, shape (Ng, angles)."""
        codes = (self.diff_key * self.n_angles + self.angle).ravel()
        return np.bincount(codes, self.p.ravel(), self.ng * self.n_angles).reshape(-1, self.n_angles)

    # ---- sums over the cells, several at once
    # The terms of several sums are written side by side into one (cells, terms, angles) array: a single
    # np.add.reduce then adds each term's cells one after the other (NumPy's cost is per cell row).
    @functools.cached_property
    def _first_sums(self) -> np.ndarray:
        """ux, uy, sum p log2(p + eps), sum p^2 (memory order), autocorrelation, contrast (row-major)."""
        p, gi, gj = self.p, self.gi, self.gj
        p_mem, i_mem, j_mem = self._mem
        terms = np.empty((p.shape[0], 6, self.n_angles))
        np.multiply(i_mem, p_mem, out=terms[:, 0])
        np.multiply(j_mem, p_mem, out=terms[:, 1])
        np.multiply(p_mem, np.log2(p_mem + EPS), out=terms[:, 2])
        np.square(p_mem, out=terms[:, 3])
        np.multiply(p, gi * gj, out=terms[:, 4])
        np.multiply(p, (self.k_diff[:, 0] ** 2)[self.diff_key], out=terms[:, 5])  # |i - j|^2 from a table
        return np.add.reduce(terms, 0)

    @functools.cached_property
    def _second_sums(self) -> np.ndarray:
        """var_x, var_y, covariance (memory order); cluster tendency, shade, prominence, HXY1 (row-major).

        The cluster factors ((i + j) - ux - uy)^power are taken once per value of i + j and angle, then
        gathered: the very values of PyRadiomics' full-size array where p is not 0 (0 elsewhere: p times
        either is 0).
        """
        p = self.p
        p_mem, i_mem, j_mem = self._mem
        terms = np.empty((p.shape[0], 7, self.n_angles))  # var_x, var_y, covariance, cluster 2 3 4, HXY1
        centred_i, centred_j = i_mem - self.ux, j_mem - self.uy
        np.multiply(p_mem, centred_i**2, out=terms[:, 0])
        np.multiply(p_mem, centred_j**2, out=terms[:, 1])
        np.multiply(p_mem * centred_i, centred_j, out=terms[:, 2])
        centred = (self.k_sum - self.ux) - self.uy
        present = self.p_sum > 0  # (i + j, angle) of some non-empty cell: the only factors used (pow is slow)
        values = centred[present]
        sum_code = self.sum_key * self.n_angles + self.angle
        for column, power in ((3, 2), (4, 3), (5, 4)):
            factors = np.zeros_like(centred)
            factors[present] = values**power
            np.multiply(p, factors.ravel()[sum_code], out=terms[:, column])
        np.multiply(p, self._log_pxpy_cells, out=terms[:, 6])
        return np.add.reduce(terms, 0)

    @functools.cached_property
    def _log_pxpy_cells(self) -> np.ndarray:
        """log2(p_x(i) p_y(j) + eps) at the cells."""
        if self.full:
            return np.log2(self._pxpy + EPS).reshape(self.n * self.n, self.n_angles)
        px = self.px.ravel()[self.row * self.n_angles + self.angle]
        py = self.py.ravel()[self.col * self.n_angles + self.angle]
        return np.log2(px * py + EPS)

    @functools.cached_property
    def _pxpy(self) -> np.ndarray:
        return self.px * self.py

    @functools.cached_property
    def ux(self) -> np.ndarray:
        return self._first_sums[0]

    @functools.cached_property
    def uy(self) -> np.ndarray:
        return self._first_sums[1]

    @functools.cached_property
    def hxy(self) -> np.ndarray:
        return -self._first_sums[2]

    def _energy(self) -> np.ndarray:
        return self._first_sums[3]

    def _marginal_entropies(self) -> np.ndarray:
        """HX and HY (rows): -sum p_x log2(p_x + eps) over i, one after the other per angle, and for p_y."""
        marginals = np.stack((self.px.reshape(self.n, -1), self.py.reshape(self.n, -1)))
        return -np.add.reduce(marginals * np.log2(marginals + EPS), 1)

    def _autocorrelation(self) -> np.ndarray:
        return self._first_sums[4]

    def _contrast(self) -> np.ndarray:
        return self._first_sums[5]

    @functools.cached_property
    def var_x(self) -> np.ndarray:
        return self._second_sums[0]

    def _var_y(self) -> np.ndarray:
        return self._second_sums[1]

    def _covariance(self) -> np.ndarray:
        return self._second_sums[2]

    def _cluster(self, power: int) -> np.ndarray:
        return self._second_sums[power + 1]

    def _cross_entropy(self) -> np.ndarray:
        return self._second_sums[6]

    def _independent_entropy(self) -> np.ndarray:
        """sum over every cell of p_x p_y log2(p_x p_y + eps) (HXY2 without its sign), in row-major order.

        PyRadiomics forms the full (n, n, angles) product; for many levels it is formed a few rows at a time
        here, each block's sum continuing from the previous one (the running sum is the block's first row).
        """
        n, n_angles = self.n, self.n_angles
        if self.full:
            return np.add.reduce((self._pxpy.reshape(n * n, n_angles) * self._log_pxpy_cells), 0)
        rows = max(1, _OUTER_BLOCK // (n * n_angles))
        if rows >= n:
            pxpy = self._pxpy
            return np.add.reduce((pxpy * np.log2(pxpy + EPS)).reshape(n * n, n_angles), 0)
        block = np.zeros((1 + rows * n, n_angles))
        logs = np.empty((rows * n, n_angles))
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            size = (stop - start) * n
            terms = block[1 : 1 + size]
            np.multiply(self.px[start:stop], self.py, out=terms.reshape(stop - start, n, n_angles))
            np.add(terms, EPS, out=logs[:size])
            np.log2(logs[:size], out=logs[:size])
            terms *= logs[:size]
            block[0] = np.add.reduce(block[: 1 + size], 0)
        return block[0].copy()

    def _maximum(self) -> np.ndarray:
        return np.amax(self.p, 0)

    def _dense_p(self) -> np.ndarray:
        """PyRadiomics' (n, n, angles) array, in its memory layout."""
        n = self.n
        if self.full:
            p = self.p.reshape(n, n, self.n_angles)
        else:
            p = np.zeros((n * n, self.n_angles))
            cells = self.p > 0  # the padding holds 0
            p[self.index[cells], np.nonzero(cells)[1]] = self.p[cells]
            p = p.reshape(n, n, self.n_angles)
        if self.transposed:
            p = np.ascontiguousarray(p.transpose(1, 0, 2)).transpose(1, 0, 2)
        return p


class _DenseGlcm(_Features):
    """PyRadiomics' dense (i, j, angle) array, as :func:`glcm_matrices` leaves it, with its very expressions.

    Used where NumPy's summation order depends on every cell (see :func:`_glcm`). Coefficients are computed on
    first use; arrays keep PyRadiomics' shapes, layouts and order of operations.
    """

    def __init__(self, p: np.ndarray, levels: np.ndarray, max_level: int) -> None:
        self.p = p
        self.levels = levels
        self.ng = max_level
        gray = levels.astype(float)
        self.i = gray[:, None, None]
        self.j = gray[None, :, None]

    @functools.cached_property
    def px(self) -> np.ndarray:
        return self.p.sum(1, keepdims=True)  # (n, 1, angles)

    @functools.cached_property
    def py(self) -> np.ndarray:
        return self.p.sum(0, keepdims=True)  # (1, n, angles)

    @functools.cached_property
    def ux(self) -> np.ndarray:
        return np.sum(self.i * self.p, (0, 1))

    @functools.cached_property
    def uy(self) -> np.ndarray:
        return np.sum(self.j * self.p, (0, 1))

    def _distribution(self, keys: np.ndarray, size: int) -> np.ndarray:
        """(size, angles): the sum of p over the cells whose integer ``keys`` (i, j) equal each row.

        PyRadiomics sums a boolean-masked copy of the cells (row-major order) along the cell axis. With
        several angles NumPy adds those cells one after the other, which is what ``np.bincount`` does. With
        one (merged) matrix the cell axis is contiguous and NumPy sums pairwise: each key's cells, sorted
        stably into one contiguous run, are then summed by ``ndarray.sum`` to round the same way.
        """
        n_angles = self.p.shape[2]
        values = self.p.ravel()  # row-major (i, j, angle)
        if n_angles > 1:
            codes = (keys[:, :, None] * n_angles + np.arange(n_angles)).ravel()
            return np.bincount(codes, weights=values, minlength=size * n_angles).reshape(size, n_angles)
        flat_keys = keys.ravel()
        order = np.argsort(flat_keys, kind="stable")
        runs = values[order]
        present, starts = np.unique(flat_keys[order], return_index=True)
        ends = np.append(starts[1:], runs.size)
        sums = np.zeros((size, 1))
        for key, start, end in zip(present.tolist(), starts.tolist(), ends.tolist()):
            sums[key, 0] = runs[start:end].sum()
        return sums

    @functools.cached_property
    def p_sum(self) -> np.ndarray:
        return self._distribution(self.levels[:, None] + self.levels[None, :] - 2, 2 * self.ng - 1)

    @functools.cached_property
    def p_diff(self) -> np.ndarray:
        return self._distribution(np.abs(self.levels[:, None] - self.levels[None, :]), self.ng)

    @functools.cached_property
    def hxy(self) -> np.ndarray:
        return -np.sum(self.p * np.log2(self.p + EPS), (0, 1))

    @functools.cached_property
    def pxpy(self) -> np.ndarray:
        return self.px * self.py

    @functools.cached_property
    def var_x(self) -> np.ndarray:
        return np.sum(self.p * ((self.i - self.ux) ** 2), (0, 1))

    def _var_y(self) -> np.ndarray:
        return np.sum(self.p * ((self.j - self.uy) ** 2), (0, 1))

    def _covariance(self) -> np.ndarray:
        return np.sum(self.p * (self.i - self.ux) * (self.j - self.uy), (0, 1))

    def _energy(self) -> np.ndarray:
        return np.sum(self.p**2, (0, 1))

    def _marginal_entropies(self) -> tuple[np.ndarray, np.ndarray]:
        hx = -np.sum(self.px * np.log2(self.px + EPS), (0, 1))
        hy = -np.sum(self.py * np.log2(self.py + EPS), (0, 1))
        return hx, hy

    @functools.cached_property
    def _sums(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct values of i + j and, per cell, which one it is."""
        ij = self.i[:, :, 0] + self.j[:, :, 0]
        values, group = np.unique(ij, return_inverse=True)
        return values, group.reshape(ij.shape)

    def _cluster(self, power: int) -> np.ndarray:
        """sum p (i + j - ux - uy)^power; the power taken once per distinct i + j, then spread over the cells.

        The spread factor is a fresh C-ordered array holding the very values PyRadiomics' full-size
        ``((i + j) - ux - uy) ** power`` holds, so the product and its sum round the same way.
        """
        values, group = self._sums
        factor = ((values[:, None] - self.ux) - self.uy) ** power
        return np.sum(self.p * np.take(factor, group, axis=0), (0, 1))

    def _autocorrelation(self) -> np.ndarray:
        return np.sum(self.p * (self.i * self.j), (0, 1))

    def _contrast(self) -> np.ndarray:
        return np.sum(self.p * (np.abs(self.i - self.j) ** 2), (0, 1))

    def _cross_entropy(self) -> np.ndarray:
        return np.sum(self.p * np.log2(self.pxpy + EPS), (0, 1))

    def _independent_entropy(self) -> np.ndarray:
        return np.sum(self.pxpy * np.log2(self.pxpy + EPS), (0, 1))

    def _maximum(self) -> np.ndarray:
        return np.amax(self.p, (0, 1))

    def _dense_p(self) -> np.ndarray:
        return self.p


def maximal_correlation(p: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray | float:
    """MCC per angle: sqrt of the second largest eigenvalue of Q(i, j) = sum_k p(i, k) p(j, k) / (px(i) py(k) + eps).

    Q comes from one matrix product per angle, (p / (px py + eps)) @ p^T, and goes (all angles in one call)
    to ``np.linalg.eigvals`` like PyRadiomics'. Q is not symmetric: without the eps it would be similar to the
    symmetric D_x^-1/2 P D_y^-1 P^T D_x^-1/2, but the eps changes the terms of rare gray levels by up to
    eps / (px py) relatively (1e-8 and more for large ROIs), so a symmetric solver cannot promise 1e-9. The
    product rounds differently from PyRadiomics' term-by-term sum, which only matters where the second
    eigenvalue is tiny (sqrt amplifies the difference; a negative real one gives NaN, an imaginary one 0)
    or complex: then Q is rebuilt in PyRadiomics' order, which reproduces its eigenvalues exactly.
    One gray level gives 1 (a single eigenvalue); non-finite matrices raise in ``eigvals`` as in
    PyRadiomics (the feature becomes NaN).
    """
    scaled = p / (px * py + EPS)  # [i, k, angle] = p(i, k) / (px(i) py(k) + eps)
    eigenvalues = np.linalg.eigvals(np.matmul(scaled.transpose(2, 0, 1), p.transpose(2, 1, 0)))
    if p.shape[0] < 2:
        return 1.0
    eigenvalues.sort()
    if eigenvalues.size and (np.iscomplexobj(eigenvalues) or eigenvalues[:, -2].min() < _MCC_EXACT_BELOW):
        eigenvalues = np.linalg.eigvals(_q_sequential(p, px, py))
        eigenvalues.sort()
    return np.sqrt(eigenvalues[:, -2])


def _q_sequential(p: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """MCC's Q per angle, (angles, n, n), summed over k one term after the other (PyRadiomics' rounding)."""
    q = (p[:, None, 0, :] * p[None, :, 0, :]) / (px * py[:, 0, :] + EPS)
    for k in range(1, p.shape[0]):
        q += (p[:, None, k, :] * p[None, :, k, :]) / (px * py[:, k, :] + EPS)
    return q.transpose(2, 0, 1)


def _nanmean_rows(rows: np.ndarray) -> np.ndarray:
    """``np.nanmean`` of each row (NaN angles ignored; NaN when none is left), with its very arithmetic.

    PyRadiomics' ``mean`` for JointAverage agrees: its angles are only NaN when all of them are.
    """
    nan = np.isnan(rows)
    return np.sum(np.where(nan, 0.0, rows), 1) / np.sum(~nan, 1, dtype=np.intp)


def compute(region: Region, names: Sequence[str]) -> dict[str, float]:
    """The requested GLCM features of ``region`` in the order of ``names`` (deprecated names are skipped).

    Unknown names raise ``LookupError`` (PyRadiomics' ``enableFeatureByName``); a feature whose computation
    raises is NaN. Errors building the matrices (e.g. no valid angle) propagate, as in PyRadiomics.
    """
    wanted = requested(names, FEATURES, skip_deprecated=True)
    if not wanted:
        return {}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        glcm = _glcm(region)
        result: dict[str, float] = {}
        per_angle: dict[str, np.ndarray] = {}
        for name in wanted:
            try:
                value = getattr(glcm, name)()
            except Exception:
                value = np.nan
            if type(value) is np.ndarray and value.dtype == np.float64 and value.ndim == 1:
                result[name] = np.nan  # placeholder keeping the order
                per_angle[name] = value
            elif np.ndim(value) == 0:
                result[name] = float(value)
            elif np.iscomplexobj(value):
                result[name] = float(np.real(np.nanmean(value)))
            else:
                result[name] = np.nan  # placeholder keeping the order
                per_angle[name] = value
        if per_angle:
            means = _nanmean_rows(np.array(list(per_angle.values()), dtype=float).reshape(len(per_angle), -1))
            result.update(zip(per_angle, means.tolist()))
    return result
