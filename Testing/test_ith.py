"""ITH score (docs/methods.md, ITH score): hand-computed habitat maps, 8-connectivity, 1-pixel regions, largest slice, K-means."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from MIRVLib.ith import ith_from_habitats, ith_score, ith_scores, largest_slice

INSIDE = np.ones((8, 8), bool)


def test_one_compact_region_per_habitat_gives_zero():
    habitats = np.zeros((8, 8), int)
    habitats[:, 4:] = 1
    assert ith_from_habitats(habitats, INSIDE) == 0.0


def test_two_stripes_per_habitat():
    habitats = (np.arange(8)[None, :] // 2 % 2) * np.ones((8, 1), int)  # stripes of width 2: 0 0 1 1 0 0 1 1
    assert ith_from_habitats(habitats, INSIDE) == pytest.approx(1 - (16 / 2 + 16 / 2) / 64)


def test_diagonal_neighbours_are_connected():
    blocks = (np.arange(8)[:, None] // 2 + np.arange(8)[None, :] // 2) % 2  # 2×2 checkerboard touches at corners
    assert ith_from_habitats(blocks, INSIDE) == pytest.approx(1 - (32 + 32) / 64)


def test_one_pixel_regions_are_ignored():
    habitats = np.zeros((8, 8), int)
    habitats[3, 3] = 1
    assert ith_from_habitats(habitats, INSIDE) == pytest.approx(1 - 63 / 64)


def _image(slices: list[np.ndarray]) -> sitk.Image:
    return sitk.GetImageFromArray(np.stack(slices).astype(np.float32))


def test_largest_axial_slice_is_used_and_kmeans_finds_the_two_habitats():
    small = np.zeros((30, 30))
    small[10:14, 10:14] = 1
    large = np.zeros((30, 30))
    large[5:25, 5:13] = 1  # two blocks with a 5-pixel gap: every 3×3 window inside sees one intensity only
    large[5:25, 18:26] = 1
    intensities = np.zeros((30, 30))
    intensities[:, 15:] = 1000.0
    image = _image([intensities, intensities, intensities])
    mask = sitk.GetImageFromArray(np.stack([small, large, small]).astype(np.uint8))
    _, inside = largest_slice(image, mask)
    assert inside.sum() == 320
    assert ith_scores(image, mask, clusters=(2,))[2] == 0.0  # one habitat per block, one region each


def test_scattered_habitats_score_higher_than_compact_ones():
    rng = np.random.default_rng(1)
    mask = sitk.GetImageFromArray(np.ones((1, 40, 40), np.uint8))
    compact = np.where(np.arange(40)[None, :] < 20, 0.0, 500.0) * np.ones((40, 1)) + rng.normal(0, 5, (40, 40))
    speckled = rng.choice([0.0, 500.0], size=(40, 40)) + rng.normal(0, 5, (40, 40))
    score_compact = ith_score(_image([compact]), mask)
    score_speckled = ith_score(_image([speckled]), mask)
    assert 0.0 <= score_compact < 0.3 < score_speckled <= 1.0
    assert score_compact == ith_score(_image([compact]), mask)  # deterministic (seeded k-means)


def test_too_few_pixels_give_nan():
    mask = sitk.GetImageFromArray(np.pad(np.ones((1, 2, 1), np.uint8), ((0, 0), (3, 3), (3, 3))))
    image = sitk.GetImageFromArray(np.zeros((1, 8, 7), np.float32))
    assert np.isnan(ith_score(image, mask, clusters=(2, 3)))
