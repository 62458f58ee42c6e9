"""Intratumoral heterogeneity score (ITHscore, Li et al. 2022; docs/methods.md, ITH score).

How fragmented a lesion's habitats are: the voxels of the lesion's largest axial slice are clustered
(k-means on intensity, 3×3 local mean and local standard deviation, each z-scored) into K habitats; for
habitat i, n_i is its number of 8-connected regions (1-pixel regions ignored) and S_i the area of its
largest region, and ITH = 1 − Σ_i S_i / n_i / S_total. One compact habitat per cluster gives 0; many
small scattered regions approach 1. The RPS study used one ITH per K = 2…5; the default score is their mean
(:func:`ith_scores` gives each).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from scipy.cluster.vq import kmeans2

DEFAULT_CLUSTERS = (2, 3, 4, 5)
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def largest_slice(image: sitk.Image, mask: sitk.Image, label: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Intensities and lesion mask of the axial slice with the most lesion voxels."""
    intensities = sitk.GetArrayViewFromImage(image)
    inside = sitk.GetArrayViewFromImage(mask) == label
    counts = inside.reshape(inside.shape[0], -1).sum(axis=1)
    if not counts.any():
        raise ValueError("ITH: the mask has no voxels")
    z = int(np.argmax(counts))
    return np.asarray(intensities[z], dtype=float), np.asarray(inside[z])


def _pixel_features(slice_: np.ndarray, inside: np.ndarray) -> np.ndarray:
    mean = ndimage.uniform_filter(slice_, size=3, mode="nearest")
    square = ndimage.uniform_filter(slice_**2, size=3, mode="nearest")
    std = np.sqrt(np.maximum(square - mean**2, 0.0))
    features = np.stack([slice_[inside], mean[inside], std[inside]], axis=1)
    spread = features.std(axis=0)
    return (features - features.mean(axis=0)) / np.where(spread > 0, spread, 1.0)


def ith_from_habitats(habitats: np.ndarray, inside: np.ndarray) -> float:
    """ITH = 1 − Σ_i S_i / n_i / S_total for a habitat label map (labels ≥ 0 inside the lesion)."""
    total = int(inside.sum())
    accumulated = 0.0
    for habitat in np.unique(habitats[inside]):
        regions, count = ndimage.label((habitats == habitat) & inside, structure=_EIGHT_CONNECTED)
        sizes = np.bincount(regions.ravel())[1:]
        sizes = sizes[sizes > 1]  # 1-pixel regions are noise, not habitats
        if sizes.size:
            accumulated += sizes.max() / sizes.size
    return float(1.0 - accumulated / total)


def ith_scores(
    image: sitk.Image, mask: sitk.Image, label: int = 1, clusters: Sequence[int] = DEFAULT_CLUSTERS, seed: int = 0
) -> dict[int, float]:
    """ITH of the largest axial slice for each number of habitats K."""
    slice_, inside = largest_slice(image, mask, label)
    features = _pixel_features(slice_, inside)
    scores = {}
    for k in clusters:
        if k >= len(features):
            scores[k] = float("nan")
            continue
        _, labels = kmeans2(features, k, minit="++", seed=seed)
        habitats = np.full(inside.shape, -1)
        habitats[inside] = labels
        scores[k] = ith_from_habitats(habitats, inside)
    return scores


def ith_score(
    image: sitk.Image, mask: sitk.Image, label: int = 1, clusters: Sequence[int] = DEFAULT_CLUSTERS, seed: int = 0
) -> float:
    """Mean ITH over K = 2…5 (the pooled score); NaN when the slice is too small to cluster."""
    values = [v for v in ith_scores(image, mask, label, clusters, seed).values() if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")
