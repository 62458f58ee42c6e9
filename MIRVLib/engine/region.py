"""One image type's voxels as every feature class sees them, discretised once.

PyRadiomics re-bins the image in each of its six gray-level feature classes; here a :class:`Region` bins
once per image type and every class reads the same ``gray_levels``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_BIN_WIDTH = 25


def bin_edges(values: np.ndarray, settings: Mapping[str, Any]) -> np.ndarray:
    """Edges of the gray-level bins of ``values`` (the ROI's voxels): fixed bin count or fixed bin width.

    Fixed width: edges are multiples of the width from zero, the lowest at or below the minimum, the last
    bin open-ended above the maximum (``np.digitize`` semantics). A flat ROI gets one bin around its value.
    Fixed count: ``np.histogram``'s equal-width edges with the top edge raised by one so the maximum
    falls in the last bin.
    """
    count = settings.get("binCount")
    if count is not None:
        edges = np.histogram(values, count)[1]
        edges[-1] += 1
        return edges
    width = settings.get("binWidth", DEFAULT_BIN_WIDTH)
    low, high = values.min(), values.max()
    edges = np.arange(low - (low % width), high + 2 * width, width)
    if len(edges) == 1:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    return edges


@dataclass
class Region:
    """The cropped image of one image type and its ROI, in NumPy's (z, y, x) order.

    ``image`` holds the voxel values as PyRadiomics' feature classes receive them (the filtered image cropped
    to the ROI's bounding box, pixel type kept); ``mask`` is the boolean ROI of the same shape; ``spacing``
    is in SimpleITK's (x, y, z) order; ``settings`` are the extraction settings with the image type's own
    settings applied (binning, distances, force2D, ...).
    """

    image: np.ndarray
    mask: np.ndarray
    spacing: tuple[float, ...]
    settings: Mapping[str, Any]

    @functools.cached_property
    def values(self) -> np.ndarray:
        """The ROI's voxel values (in C order of the crop)."""
        return self.image[self.mask]

    @functools.cached_property
    def edges(self) -> np.ndarray:
        return bin_edges(self.values, self.settings)

    @functools.cached_property
    def gray_levels(self) -> np.ndarray:
        """Integer bin index (1 = lowest bin) of every ROI voxel, 0 outside the ROI; same shape as ``image``."""
        levels = np.zeros(self.image.shape, dtype=np.intp)
        levels[self.mask] = np.digitize(self.values, self.edges)
        return levels

    @functools.cached_property
    def present_levels(self) -> np.ndarray:
        """The sorted distinct gray levels inside the ROI (PyRadiomics' ``grayLevels`` coefficient)."""
        return np.unique(self.gray_levels[self.mask])

    @property
    def max_level(self) -> int:
        """Highest gray level in the ROI (PyRadiomics' ``Ng``)."""
        return int(self.present_levels[-1])
