"""First-order (intensity histogram and statistics) features, as PyRadiomics' ``firstorder`` class defines them.

Every statistic is taken over the ROI's raw voxel values (``region.values`` as float64, NaN voxels ignored the way
NumPy's ``nan*`` functions ignore them); Entropy and Uniformity use the histogram of the shared discretised
``region.gray_levels``. The arithmetic follows PyRadiomics' order of operations (central moments as means of
powered deviations, Variance as the squared standard deviation, percentiles with NumPy's default linear
interpolation, read from one sorted copy instead of one partition per percentile) so results agree to rounding.

``voxelArrayShift`` (default 0) is added to the values for Energy, TotalEnergy and RootMeanSquared; TotalEnergy
scales Energy by the voxel volume from the spacing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Callable

import numpy as np

from MIRVLib.engine.features import evaluate
from MIRVLib.engine.region import Region

# Feature name -> deprecated, in PyRadiomics' getFeatureNames() order (inspect.getmembers sorts the method names,
# so "MeanAbsoluteDeviation" precedes "Mean").
FEATURES: dict[str, bool] = {
    "10Percentile": False,
    "90Percentile": False,
    "Energy": False,
    "Entropy": False,
    "InterquartileRange": False,
    "Kurtosis": False,
    "Maximum": False,
    "MeanAbsoluteDeviation": False,
    "Mean": False,
    "Median": False,
    "Minimum": False,
    "Range": False,
    "RobustMeanAbsoluteDeviation": False,
    "RootMeanSquared": False,
    "Skewness": False,
    "StandardDeviation": True,
    "TotalEnergy": False,
    "Uniformity": False,
    "Variance": False,
}


class _Stats:
    """Lazily computed, shared intermediate quantities of one region (each computed at most once)."""

    def __init__(self, region: Region):
        self.region = region
        values = np.asarray(region.values, dtype=np.float64).ravel()
        nan = np.isnan(values)
        # NumPy's nan-aware reductions on a 1-D array equal the plain ones on its non-NaN elements.
        self.x = values[~nan] if nan.any() else values
        self.shift = region.settings.get("voxelArrayShift", 0)
        self._cache: dict[str, object] = {}

    def _get(self, key: str, make: Callable[[], object]):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    # ---- raw-value statistics
    def mean(self) -> float:
        return self._get("mean", lambda: np.mean(self.x))

    def deviation(self) -> np.ndarray:
        return self._get("dev", lambda: self.x - self.mean())

    def squared_deviation(self) -> np.ndarray:
        return self._get("dev2", lambda: self.deviation() * self.deviation())

    def central_moment(self, order: int) -> float:
        """Mean of the ``order``-th power of the deviations (PyRadiomics' ``_moment``).

        Powers are products of the squared deviation (``np.power`` with an integer exponent goes through
        ``pow()`` and costs ~50 ns a voxel); they agree with it to an ulp per voxel.
        """

        def make():
            dev2 = self.squared_deviation()
            if order == 2:
                return np.mean(dev2)
            return np.mean(dev2 * (self.deviation() if order == 3 else dev2))

        return self._get(f"m{order}", make)

    def std(self) -> float:
        return self._get("std", lambda: np.std(self.x))

    def sorted(self) -> np.ndarray:
        """The values sorted once: minimum, maximum, median and percentiles are read from it."""
        return self._get("sorted", lambda: np.sort(self.x))

    def percentile(self, q: float) -> float:
        """NumPy's default ('linear', Hyndman & Fan 7) percentile, with NumPy's own interpolation arithmetic."""
        xs = self.sorted()
        last = xs.size - 1
        position = last * (q / 100)
        if position >= last:
            return xs[-1]
        if position < 0:
            return xs[0]
        below = math.floor(position)
        gamma = position - below
        a, b = xs[below], xs[below + 1]
        step = b - a
        # NumPy interpolates from the nearer end: from b when gamma >= 0.5, from a otherwise.
        return b - step * (1 - gamma) if gamma >= 0.5 else a + step * gamma

    def median(self) -> float:
        """Middle value, or the mean of the two middle values (np.median)."""
        xs = self.sorted()
        half = xs.size // 2
        return xs[half] if xs.size % 2 else (xs[half - 1] + xs[half]) / 2.0

    def energy(self) -> float:
        return self._get("energy", lambda: np.sum((self.x + self.shift) ** 2))

    # ---- discretised histogram
    def probabilities(self) -> np.ndarray:
        """Normalised histogram of the gray levels present in the ROI (empty bins dropped, as np.unique does)."""

        def make():
            levels = self.region.gray_levels[self.region.mask]
            counts = np.bincount(levels.ravel())
            counts = counts[counts > 0]
            total = float(counts.sum()) or 1.0
            return counts.astype(np.float64) / total

        return self._get("p", make)


def _energy(s: _Stats) -> float:
    return s.energy()


def _total_energy(s: _Stats) -> float:
    # Voxel volume as the product of the spacing, multiplied in (x, y, z) order.
    volume = 1.0
    for step in s.region.spacing:
        volume = volume * step
    return s.energy() * volume


def _entropy(s: _Stats) -> float:
    p = s.probabilities()
    return -1.0 * np.sum(p * np.log2(p + np.spacing(1)))


def _uniformity(s: _Stats) -> float:
    return np.sum(s.probabilities() ** 2)


def _minimum(s: _Stats) -> float:
    return s.sorted()[0]


def _maximum(s: _Stats) -> float:
    return s.sorted()[-1]


def _range(s: _Stats) -> float:
    return s.sorted()[-1] - s.sorted()[0]


def _percentile10(s: _Stats) -> float:
    return s.percentile(10)


def _percentile90(s: _Stats) -> float:
    return s.percentile(90)


def _interquartile_range(s: _Stats) -> float:
    return s.percentile(75) - s.percentile(25)


def _mean(s: _Stats) -> float:
    return s.mean()


def _median(s: _Stats) -> float:
    return s.median()


def _mean_absolute_deviation(s: _Stats) -> float:
    return np.mean(np.absolute(s.deviation()))


def _robust_mean_absolute_deviation(s: _Stats) -> float:
    """Mean absolute deviation of the voxels within the closed [10th, 90th] percentile range, about their own mean."""
    inner = s.x[(s.x >= s.percentile(10)) & (s.x <= s.percentile(90))]
    if inner.size == 0:  # e.g. two voxels: interpolated percentiles enclose none (NumPy's empty mean: NaN)
        return math.nan
    return np.mean(np.absolute(inner - np.mean(inner)))


def _root_mean_squared(s: _Stats) -> float:
    if s.region.values.size == 0:
        return 0.0
    return np.sqrt(s.energy() / float(s.x.size))


def _standard_deviation(s: _Stats) -> float:
    return s.std()


def _variance(s: _Stats) -> float:
    return s.std() ** 2


def _skewness(s: _Stats) -> float:
    m2 = s.central_moment(2)
    if m2 == 0:  # flat region: PyRadiomics returns 0
        return 0.0
    return s.central_moment(3) / m2**1.5


def _kurtosis(s: _Stats) -> float:
    m2 = s.central_moment(2)
    if m2 == 0:  # flat region: PyRadiomics returns 0
        return 0.0
    return s.central_moment(4) / m2**2.0


_FUNCTIONS: dict[str, Callable[[_Stats], float]] = {
    "10Percentile": _percentile10,
    "90Percentile": _percentile90,
    "Energy": _energy,
    "Entropy": _entropy,
    "InterquartileRange": _interquartile_range,
    "Kurtosis": _kurtosis,
    "Maximum": _maximum,
    "MeanAbsoluteDeviation": _mean_absolute_deviation,
    "Mean": _mean,
    "Median": _median,
    "Minimum": _minimum,
    "Range": _range,
    "RobustMeanAbsoluteDeviation": _robust_mean_absolute_deviation,
    "RootMeanSquared": _root_mean_squared,
    "Skewness": _skewness,
    "StandardDeviation": _standard_deviation,
    "TotalEnergy": _total_energy,
    "Uniformity": _uniformity,
    "Variance": _variance,
}


def compute(region: Region, names: Sequence[str]) -> dict[str, float]:
    """The requested first-order features of ``region``, in the order of ``names``.

    A deprecated feature (StandardDeviation) is computed when asked for by name, as PyRadiomics 3.1.4 does when
    it is enabled explicitly. A feature whose computation fails is NaN, as in PyRadiomics.
    """
    return evaluate(names, FEATURES, _FUNCTIONS, lambda: _Stats(region), skip_deprecated=False)
