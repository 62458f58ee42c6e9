"""The colour scale of a MIRV matrix: fixed per metric and model, never the patient's own maximum.

A scale stretched to each patient's maximum makes a patient at the 10th percentile look as bright as one at
the 95th, so two figures cannot be compared by colour. The scale is therefore fixed: cosine dissimilarity
over its full range [0, 2]; Euclidean distance from 0 to the largest MIRV(max) distance of the model's
reference cohort (its units depend on the model's features, so only the model can bound it). Optionally the
reference cohort's 5th–95th percentile range instead (more contrast, still the same for every patient).
The matrix PNG, the module's matrix table, the Slicer colour table/legend and the 3D tubes all take their
colours from one `ColourScale`, so equal values get equal colours everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import matplotlib
import numpy as np

from MIRVLib.options import SCALE_MODES

if TYPE_CHECKING:
    from MIRVLib.reduction import FeatureReduction

# Perceptually uniform with lightness rising monotonically from dark purple to bright yellow: reads correctly
# in greyscale print and for colour-blind readers.
COLORMAP = "plasma"
MISSING_RGB = 0.6  # grey for undefined cells (NaN)
REFERENCE_PERCENTILES = (5.0, 95.0)
COSINE_RANGE = (0.0, 2.0)
_REFERENCE_KEYS = {"dissimilarity": "MIRVMaxDissimilarity", "distance": "MIRVMaxDistance"}


@dataclass(frozen=True)
class ColourScale:
    """Values ``low`` … ``high`` map onto the colour map (clipped outside); ``basis`` says where they come from."""

    low: float
    high: float
    basis: str
    colormap: str = COLORMAP

    def fractions(self, values: np.ndarray) -> np.ndarray:
        """Position of each value on the scale, 0 … 1 (NaN stays NaN)."""
        span = self.high - self.low if self.high > self.low else 1.0
        return np.clip((np.asarray(values, dtype=float) - self.low) / span, 0.0, 1.0)

    def colors(self, values: np.ndarray) -> np.ndarray:
        """RGB (0–1) of every value, NaN → grey."""
        values = np.asarray(values, dtype=float)
        rgb = matplotlib.colormaps[self.colormap](np.nan_to_num(self.fractions(values)))[..., :3]
        rgb[~np.isfinite(values)] = MISSING_RGB
        return rgb

    def dark_text(self, value: float) -> bool:
        """Whether a cell of this value is bright enough to need black text (the map is bright at the top)."""
        return bool(np.isfinite(value) and self.fractions(np.array([value]))[0] > 0.6)

    def describe(self) -> str:
        """The scale as printed on every figure and legend."""
        return f"colour scale {self.low:.3g}–{self.high:.3g} ({self.basis})"


def colour_scale(metric: str, model: FeatureReduction | None = None, mode: str = "full") -> ColourScale:
    """The scale of ``metric`` ("dissimilarity" or "distance") for patients scored with ``model``.

    ``mode="full"``: dissimilarity [0, 2], distance [0, reference-cohort maximum]. ``"reference-percentiles"``:
    the reference cohort's 5th–95th percentile of MIRV(max). A model without a reference cohort falls back to
    the full cosine range and, for distance, raises: no fixed bound exists then.
    """
    if metric not in _REFERENCE_KEYS:
        raise ValueError(f"metric must be one of {list(_REFERENCE_KEYS)}, got {metric!r}")
    if mode not in SCALE_MODES:
        raise ValueError(f"colour scale mode must be one of {list(SCALE_MODES)}, got {mode!r}")
    reference = np.asarray((model.reference if model is not None else {}).get(_REFERENCE_KEYS[metric], []), float)
    reference = reference[np.isfinite(reference)]
    cohort = f"the model's reference cohort, n={reference.size}"
    if mode == "reference-percentiles" and reference.size:
        low, high = np.percentile(reference, REFERENCE_PERCENTILES)
        first, last = REFERENCE_PERCENTILES
        return ColourScale(float(low), float(high), f"{first:g}th–{last:g}th percentile of MIRV(max) in {cohort}")
    if metric == "dissimilarity":
        return ColourScale(*COSINE_RANGE, "full range of cosine dissimilarity")
    if not reference.size:
        raise ValueError("the model has no reference cohort: no fixed colour scale for Euclidean distance")
    return ColourScale(0.0, float(reference.max()), f"0 to the largest MIRV(max) in {cohort}")
