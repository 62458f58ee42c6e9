"""PyRadiomics' GLCM features, bit-identical and 2.7 times as fast (PyRadiomics 3.1, numpy 2).

Half of a MIRV-CT extraction is spent in three pure-numpy spots of ``radiomics.glcm.RadiomicsGLCM``:
the sum/difference distributions ``pxAddy``/``pxSuby`` (one boolean ``Ng x Ng`` mask and one
fancy-index copy per ``k``: cubic in ``Ng``) and cluster shade/prominence (``pow`` over the whole
``Ng x Ng x angles`` array). :class:`FastGLCM` computes them with the very same floating-point
operations in the same order, so every feature is equal to PyRadiomics' own, bit for bit:

- ``numpy.sum(P[:, mask, :], 1)`` adds the masked cells one after the other (row-major order), per
  angle, as long as there are at least two angles (the angle axis is then numpy's inner loop; with one
  angle numpy sums pairwise and PyRadiomics' own code is kept). The same additions in the same order
  come from one gather of every ``k``'s cells into a zero-padded ``(k, cell)`` table summed along
  ``cell`` (adding the padding's ``0.0`` to a sum of probabilities changes nothing).
- ``(i + j - ux - uy) ** n`` takes only as many distinct values per angle as ``i + j`` does (``2 Ng - 1``
  at most, against ``Ng**2`` cells): the same subtractions and ``pow`` on that short table, gathered
  back to ``Ng x Ng``, give the same array, which is then multiplied and summed as before. Both ``pow``
  calls get fresh C-ordered float64 arrays, so numpy picks the same (SIMD) kernel for them.

Testing/test_fast_texture.py checks all of it, value by value, on random, synthetic and real-CT input.
Because exactness rests on NumPy's summation order and ``pow`` kernels, :func:`install` also checks it once
per process on a small random lesion (a few milliseconds) and keeps PyRadiomics' own class if any value
differs, e.g. inside a Slicer whose NumPy is not the one tested.

:func:`install` makes a ``RadiomicsFeatureExtractor`` use these classes.
"""

from __future__ import annotations

import collections
import functools
import logging
from typing import Any

import numpy
import SimpleITK as sitk
from radiomics import featureextractor, getFeatureClasses, glcm

logger = logging.getLogger("radiomics.featureextractor")  # PyRadiomics' own, for its feature loop below
log = logging.getLogger(__name__)  # MIRV's messages: MIRV sets the "radiomics" loggers to ERROR


def _cell_groups(keys: numpy.ndarray, kValues: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Which flat cells of ``keys`` equal each ``k`` of ``kValues``, in boolean-mask (row-major) order.

    Returns the rows of ``kValues`` that occur and a ``(rows, longest group)`` table of flat cell
    indices, padded with ``keys.size`` (the index of a zero row appended to the data).
    """
    flat = keys.ravel()
    order = numpy.argsort(flat, kind="stable")  # stable: equal keys keep their row-major order
    present, counts = numpy.unique(flat, return_counts=True)
    rank = numpy.arange(flat.size) - numpy.repeat(numpy.cumsum(counts) - counts, counts)
    table = numpy.full((present.size, counts.max()), flat.size)
    table[numpy.repeat(numpy.arange(present.size), counts), rank] = order
    rows = numpy.searchsorted(kValues, present)
    matched = rows < kValues.size
    matched[matched] = kValues[rows[matched]] == present[matched]  # keys without a k are in no sum
    return rows[matched], table[matched]


def _group_sums(cells: numpy.ndarray, rows: numpy.ndarray, table: numpy.ndarray, size: int) -> numpy.ndarray:
    """``numpy.array([numpy.sum(P[:, mask_k, :], 1) for k]).transpose((1, 0, 2))``, value and layout.

    ``cells`` is P as ``(Ng*Ng + 1, Nv, angles)`` with a zero last row; the sums run along ``table``'s
    second axis, cell after cell, like numpy's sum over the masked copy (angles >= 2).
    """
    sums = numpy.zeros((size,) + cells.shape[1:])
    sums[rows] = numpy.sum(cells[table], 1)
    return sums.transpose((1, 0, 2))


class FastGLCM(glcm.RadiomicsGLCM):
    """``RadiomicsGLCM`` with faster coefficients and cluster features; every value identical."""

    def _calculateCoefficients(self) -> None:
        """PyRadiomics' coefficients, with ``pxAddy``/``pxSuby`` from one padded gather each (see module)."""
        P = self.P_glcm
        Nv, Ng_present, _, angles = P.shape
        NgVector = self.coefficients["grayLevels"].astype("float")
        i, j = numpy.meshgrid(NgVector, NgVector, indexing="ij", sparse=True)
        ijSum = i + j
        self._sumValues, sumGroup = numpy.unique(ijSum, return_inverse=True)  # for _cluster
        self._sumGroup = sumGroup.reshape(Ng_present, Ng_present)
        if angles < 2:  # numpy sums the masked cells pairwise here: keep PyRadiomics' own sums
            super()._calculateCoefficients()
            return
        self.logger.debug("Calculating GLCM coefficients")
        Ng = self.coefficients["Ng"]
        eps = numpy.spacing(1)
        kValuesSum = numpy.arange(2, (Ng * 2) + 1, dtype="float")
        kValuesDiff = numpy.arange(0, Ng, dtype="float")
        px = P.sum(2, keepdims=True)
        py = P.sum(1, keepdims=True)
        ux = numpy.sum(i[None, :, :, None] * P, (1, 2), keepdims=True)
        uy = numpy.sum(j[None, :, :, None] * P, (1, 2), keepdims=True)

        cells = numpy.concatenate(
            (P.transpose((1, 2, 0, 3)).reshape(Ng_present * Ng_present, Nv, angles), numpy.zeros((1, Nv, angles))))
        rows, table = _cell_groups(ijSum, kValuesSum)
        pxAddy = _group_sums(cells, rows, table, kValuesSum.size)
        rows, table = _cell_groups(numpy.abs(i - j), kValuesDiff)
        pxSuby = _group_sums(cells, rows, table, kValuesDiff.size)

        HXY = (-1) * numpy.sum((P * numpy.log2(P + eps)), (1, 2))
        self.coefficients.update(
            eps=eps, i=i, j=j, kValuesSum=kValuesSum, kValuesDiff=kValuesDiff, px=px, py=py, ux=ux, uy=uy,
            pxAddy=pxAddy, pxSuby=pxSuby, HXY=HXY)

    def _cluster(self, power: int) -> numpy.ndarray:
        """``nanmean(sum(P * ((i + j) - ux - uy) ** power, (1, 2)), 1)`` with ``pow`` on distinct ``i + j`` only.

        The gathered factor is a fresh C-ordered array like PyRadiomics' own, so the product and its sum
        run in the same order.
        """
        ux = self.coefficients["ux"][:, 0]  # (Nv, 1, angles)
        uy = self.coefficients["uy"][:, 0]
        factor = numpy.take((self._sumValues[None, :, None] - ux - uy) ** power, self._sumGroup, axis=1)
        return numpy.nanmean(numpy.sum(self.P_glcm * factor, (1, 2)), 1)

    def getClusterProminenceFeatureValue(self) -> numpy.ndarray:
        return self._cluster(4)

    def getClusterShadeFeatureValue(self) -> numpy.ndarray:
        return self._cluster(3)

    def getClusterTendencyFeatureValue(self) -> numpy.ndarray:
        return self._cluster(2)


# Feature-class name (as in a parameter file) -> faster bit-identical replacement.
FAST_CLASSES: dict[str, type] = {"glcm": FastGLCM}


class FastFeatureExtractor(featureextractor.RadiomicsFeatureExtractor):
    """``RadiomicsFeatureExtractor`` computing with :data:`FAST_CLASSES`.

    PyRadiomics looks its feature classes up in a process-wide registry inside ``computeFeatures``; this
    is that method (PyRadiomics 3.1) with the registry overlaid, so only this extractor changes.
    """

    def computeFeatures(self, image: Any, mask: Any, imageTypeName: str, **kwargs: Any) -> collections.OrderedDict:
        featureVector: collections.OrderedDict = collections.OrderedDict()
        featureClasses = {**getFeatureClasses(), **FAST_CLASSES}
        for featureClassName, featureNames in self.enabledFeatures.items():
            if featureClassName.startswith("shape") or featureClassName not in featureClasses:
                continue
            logger.info("Computing %s", featureClassName)
            featureClass = featureClasses[featureClassName](image, mask, **kwargs)
            if featureNames is not None:
                for feature in featureNames:
                    featureClass.enableFeatureByName(feature)
            for featureName, featureValue in featureClass.execute().items():
                featureVector[f"{imageTypeName}_{featureClassName}_{featureName}"] = featureValue
        return featureVector


@functools.cache
def agrees_with_pyradiomics() -> bool:
    """Whether :class:`FastGLCM` gives PyRadiomics' values bit for bit with this NumPy (checked once per process).

    A random 8×10×12 lesion with ~40 gray levels: all 13 angles, every GLCM feature, compared with ``==``.
    """
    rng = numpy.random.default_rng(20261122)
    image = sitk.GetImageFromArray(rng.integers(-200, 800, (8, 10, 12)).astype(numpy.float64))
    mask = sitk.GetImageFromArray((rng.random((8, 10, 12)) < 0.7).astype(numpy.uint8))
    settings = {"binWidth": 25, "label": 1}
    # SumAverage only adds a log line (it equals 2 × JointAverage on symmetrical matrices)
    names = [name for name, deprecated in FastGLCM.getFeatureNames().items() if not deprecated and name != "SumAverage"]
    values = []
    try:
        for feature_class in (glcm.RadiomicsGLCM, FastGLCM):
            instance = feature_class(image, mask, **settings)
            for name in names:
                instance.enableFeatureByName(name)
            values.append(instance.execute())
        expected, got = values
        same = all(numpy.array_equal(got[name], value, equal_nan=True) for name, value in expected.items())
    except Exception as error:  # e.g. a NumPy API the fast class relies on changed
        log.warning("MIRV's fast GLCM fails with NumPy %s (%s); using PyRadiomics' own GLCM", numpy.__version__, error)
        return False
    if not same:
        log.warning("MIRV's fast GLCM differs from PyRadiomics with NumPy %s; using PyRadiomics' own GLCM",
                    numpy.__version__)
    return same


def install(extractor: featureextractor.RadiomicsFeatureExtractor) -> featureextractor.RadiomicsFeatureExtractor:
    """Make ``extractor`` (settings kept) compute with the fast classes, if they are exact here; returns it."""
    if agrees_with_pyradiomics():
        extractor.__class__ = FastFeatureExtractor
    return extractor
