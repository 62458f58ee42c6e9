"""Gray Level Co-occurrence Matrix features: PyRadiomics' ``glcm`` class, computed natively with NumPy.

A GLCM counts, for one offset ("angle"), how often an ROI voxel of gray level i has an ROI neighbour of gray
level j at that offset. PyRadiomics builds one matrix per angle in C (``calculate_glcm``); here all angles
are counted at once: the crop's gray levels are padded with an "outside" level 0, every ROI voxel reads its
neighbour at each angle's flat offset, and one ``np.bincount`` over (angle, i, j) pair codes gives every
matrix (a few angles at a time for very large ROIs).

After the counts everything follows ``radiomics/glcm.py``: empty gray levels deleted, optional
symmetrisation (P + P^T), optional distance weighting (the angles merged into one matrix), angles without
pairs dropped (unless merged), normalisation, one value per angle and ``nanmean`` over angles. The arrays
keep PyRadiomics' (i, j, angle) shapes and memory layout, and each feature its order of floating-point
operations, so NumPy rounds every sum the same way: all features except MCC equal PyRadiomics' to the last
bit (cancellation-prone ones such as cluster shade, correlation or IMC1/IMC2 included). MCC's matrix comes
from a faster matrix product and agrees to a few units in the last place (see :func:`maximal_correlation`).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

import numpy as np

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
    dist = np.array(distances, dtype=np.int64)
    size = np.asarray(shape, dtype=np.int64)
    ndim = size.size
    if dist.size == 0 or (dist < 1).any():
        raise RuntimeError("Error getting angle count.")
    in_plane = np.arange(ndim) != force2d_dimension

    # How many angles PyRadiomics generates: offsets of infinity norm exactly d within the crop, per distance.
    count = 0
    for d in dist.tolist():
        reach = np.where(d < size, 2 * d + 1, 2 * size - 1)[in_plane]
        inner = np.where(d < size, 2 * d - 1, 2 * size - 1)[in_plane]
        count += int(np.prod(reach)) - int(np.prod(inner))
    count //= 2
    if count == 0:
        raise RuntimeError("Error getting angle count.")

    d_max = int(dist.max())
    steps = np.arange(d_max, -d_max - 1, -1)
    grid = np.stack(np.meshgrid(*([steps] * ndim), indexing="ij"), -1).reshape(-1, ndim)
    norm = np.abs(grid).max(1)
    valid = (np.abs(grid) < size).all(1) & ((grid == 0) | in_plane).all(1) & np.isin(norm, dist) & (norm > 0)
    candidates = grid[valid]
    result = candidates[np.arange(count) % len(candidates)].astype(np.intp)
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
def cooccurrences(region: Region, offsets: np.ndarray) -> np.ndarray:
    """Raw (asymmetric) co-occurrence counts, float64 of shape (Ng, Ng, angles), C-ordered like PyRadiomics' C output.

    Entry [i - 1, j - 1, a]: ROI voxels of gray level i whose neighbour at ``offsets[a]`` lies inside the crop
    and the ROI and has gray level j. The crop is padded by the largest offset per axis with level 0 ("no
    neighbour"), so a neighbour lookup never wraps; pair codes send that level to a dump column dropped at
    the end. All angles are looked up together (a few at a time for very large ROIs).
    """
    ng = region.max_level
    levels = np.where(region.mask, region.gray_levels, 0)
    pad = np.abs(offsets).max(0)
    padded = np.zeros(tuple(np.add(levels.shape, 2 * pad)), dtype=levels.dtype)
    padded[tuple(slice(p, p + n) for p, n in zip(pad.tolist(), levels.shape))] = levels
    flat = padded.ravel()
    strides = np.array(padded.strides) // padded.itemsize
    centres = np.flatnonzero(flat)
    rows = (flat[centres] - 1) * (ng + 1)  # row code of each ROI voxel; + neighbour level 0..Ng gives the cell
    steps = offsets @ strides

    n_angles = len(offsets)
    cells = ng * (ng + 1)
    counts = np.zeros(n_angles * cells)
    per_chunk = max(1, _CHUNK // max(1, centres.size))
    for start in range(0, n_angles, per_chunk):
        stop = min(n_angles, start + per_chunk)
        pairs = flat[centres[None, :] + steps[start:stop, None]]
        pairs += rows
        pairs += (np.arange(stop - start) * cells)[:, None]
        counts[start * cells : stop * cells] = np.bincount(pairs.ravel(), minlength=(stop - start) * cells)
    counts = counts.reshape(n_angles, ng, ng + 1)[:, :, 1:]
    return np.ascontiguousarray(counts.transpose(1, 2, 0))


def glcm_matrices(region: Region) -> np.ndarray:
    """Normalised GLCMs (levels present, levels present, angles) as PyRadiomics' ``P_glcm`` (without its voxel axis).

    Empty gray levels removed; symmetrised if 'symmetricalGLCM' (default True); merged into one weighted
    matrix if 'weightingNorm' is set; angles without any pair dropped while more than one matrix remains; a
    matrix without pairs becomes NaN. Rows, columns and angles are removed with ``np.delete`` as PyRadiomics
    does because the memory layout it leaves decides NumPy's summation order in every later reduction:
    the same layout gives the same rounding, so cancellation-prone features match to the last bits.
    """
    settings = region.settings
    force2d_dimension = int(settings.get("force2Ddimension", 0)) if settings.get("force2D", False) else -1
    offsets = angles(region.gray_levels.shape, settings.get("distances", [1]), force2d_dimension)
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


# ---------------------------------------------------------------- features
class _Glcm:
    """The normalised matrices with PyRadiomics' coefficients (computed on first use) and one method per feature.

    Arrays are (i, j, angle) like PyRadiomics' (its leading voxel axis dropped); per-angle values are 1-D over
    angles and every feature ends in ``nanmean`` over angles, as PyRadiomics.
    """

    def __init__(self, p: np.ndarray, levels: np.ndarray, max_level: int) -> None:
        self.p = p
        self.levels = levels
        self.ng = max_level  # PyRadiomics' Ng: the highest level, also where lower levels are missing
        gray = levels.astype(float)
        self.i = gray[:, None, None]
        self.j = gray[None, :, None]

    # ---- coefficients
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
        """p_{x+y}(k) for k = 2 .. 2 Ng, shape (2 Ng - 1, angles)."""
        return self._distribution(self.levels[:, None] + self.levels[None, :] - 2, 2 * self.ng - 1)

    @functools.cached_property
    def p_diff(self) -> np.ndarray:
        """p_{x-y}(k) for k = 0 .. Ng - 1, shape (Ng, angles)."""
        return self._distribution(np.abs(self.levels[:, None] - self.levels[None, :]), self.ng)

    @functools.cached_property
    def k_sum(self) -> np.ndarray:
        return np.arange(2, 2 * self.ng + 1, dtype=float)[:, None]

    @functools.cached_property
    def k_diff(self) -> np.ndarray:
        return np.arange(0, self.ng, dtype=float)[:, None]

    @functools.cached_property
    def hxy(self) -> np.ndarray:
        return -np.sum(self.p * np.log2(self.p + EPS), (0, 1))

    @functools.cached_property
    def pxpy(self) -> np.ndarray:
        return self.px * self.py

    @functools.cached_property
    def var_x(self) -> np.ndarray:
        return np.sum(self.p * ((self.i - self.ux) ** 2), (0, 1))

    @functools.cached_property
    def diff_average(self) -> np.ndarray:
        return np.sum(self.k_diff * self.p_diff, 0)

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

    # ---- features, one value per angle
    def Autocorrelation(self):
        return np.sum(self.p * (self.i * self.j), (0, 1))

    def JointAverage(self):
        return self.ux

    def ClusterProminence(self):
        return self._cluster(4)

    def ClusterShade(self):
        return self._cluster(3)

    def ClusterTendency(self):
        return self._cluster(2)

    def Contrast(self):
        return np.sum(self.p * (np.abs(self.i - self.j) ** 2), (0, 1))

    def Correlation(self):
        """Covariance over sigma_x sigma_y; 1 where an angle has no variance (flat region)."""
        sigma_x = self.var_x**0.5
        sigma_y = np.sum(self.p * ((self.j - self.uy) ** 2), (0, 1)) ** 0.5
        covariance = np.sum(self.p * (self.i - self.ux) * (self.j - self.uy), (0, 1))
        correlation = covariance / (sigma_x * sigma_y + EPS)
        correlation[sigma_x * sigma_y == 0] = 1
        return correlation

    def DifferenceAverage(self):
        return self.diff_average

    def DifferenceEntropy(self):
        return -np.sum(self.p_diff * np.log2(self.p_diff + EPS), 0)

    def DifferenceVariance(self):
        return np.sum(self.p_diff * ((self.k_diff - self.diff_average) ** 2), 0)

    def JointEnergy(self):
        return np.sum(self.p**2, (0, 1))

    def JointEntropy(self):
        return self.hxy

    def Imc1(self):
        """(HXY - HXY1) / max(HX, HY); 0 where both marginal entropies are 0."""
        hx = -np.sum(self.px * np.log2(self.px + EPS), (0, 1))
        hy = -np.sum(self.py * np.log2(self.py + EPS), (0, 1))
        hxy1 = -np.sum(self.p * np.log2(self.pxpy + EPS), (0, 1))
        div = np.fmax(hx, hy)
        imc1 = self.hxy - hxy1
        nonzero = div != 0
        imc1[nonzero] /= div[nonzero]
        imc1[~nonzero] = 0
        return imc1

    def Imc2(self):
        """sqrt(1 - e^(-2 (HXY2 - HXY))); 0 where HXY2 == HXY, NaN (ignored by the mean) where HXY2 < HXY."""
        hxy2 = -np.sum(self.pxpy * np.log2(self.pxpy + EPS), (0, 1))
        imc2 = (1 - np.e ** (-2 * (hxy2 - self.hxy))) ** 0.5
        imc2[hxy2 == self.hxy] = 0
        return imc2

    def Idm(self):
        return np.sum(self.p_diff / (1 + self.k_diff**2), 0)

    def Idmn(self):
        return np.sum(self.p_diff / (1 + (self.k_diff**2) / (self.ng**2)), 0)

    def Id(self):
        return np.sum(self.p_diff / (1 + self.k_diff), 0)

    def Idn(self):
        return np.sum(self.p_diff / (1 + self.k_diff / self.ng), 0)

    def InverseVariance(self):
        return np.sum(self.p_diff[1:] / self.k_diff[1:] ** 2, 0)

    def MaximumProbability(self):
        return np.amax(self.p, (0, 1))

    def SumAverage(self):
        return np.sum(self.k_sum * self.p_sum, 0)

    def SumEntropy(self):
        return -np.sum(self.p_sum * np.log2(self.p_sum + EPS), 0)

    def SumSquares(self):
        return self.var_x

    def MCC(self):
        return maximal_correlation(self.p, self.px, self.py)


def maximal_correlation(p: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray | float:
    """MCC per angle: sqrt of the second largest eigenvalue of Q(i, j) = sum_k p(i, k) p(j, k) / (px(i) py(k) + eps).

    Q comes from one matrix product per angle, (p / (px py + eps)) @ p^T, and goes to ``np.linalg.eigvals``
    like PyRadiomics' (Q is not symmetric: a symmetric solver would not give its eigenvalues to 1e-9). The
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
    unknown = [name for name in names if name not in FEATURES]
    if unknown:
        raise LookupError(f"Feature not found: {unknown[0]}")
    wanted = [name for name in names if not FEATURES[name]]
    if not wanted:
        return {}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        glcm = _Glcm(glcm_matrices(region), region.present_levels, region.max_level)
        result: dict[str, float] = {}
        per_angle: dict[str, np.ndarray] = {}
        for name in wanted:
            try:
                value = getattr(glcm, name)()
            except Exception:
                value = np.nan
            if np.ndim(value) == 0:
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
