"""Fixed colour scales: two patients with very different maxima get equal colours for equal values, in the
matrix PNG (pixels read back from the rendered figure) and the module's table cells; every figure states
its scale; the shipped SARC021 model bounds Euclidean distance by its reference cohort."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from MIRVLib.colour_scale import ColourScale, colour_scale
from MIRVLib.matrix_figure import heatmap, matrix_figure
from MIRVLib.reduction import FeatureReduction
from MIRVLib.resources import model_path

LOW_PATIENT = [[0.0, 0.147, 0.05], [0.147, 0.0, 0.10], [0.05, 0.10, 0.0]]  # max 0.147 (a 10th-percentile patient)
HIGH_PATIENT = [[0.0, 1.80, 0.10], [1.80, 0.0, 0.90], [0.10, 0.90, 0.0]]  # max 1.80 (the demo patient)


def frame(values) -> pd.DataFrame:
    names = ["A", "B", "C"]
    return pd.DataFrame(values, index=names, columns=names)


def cell_pixel(figure, row: int, column: int) -> np.ndarray:
    """RGB (0–255) of a matrix cell, sampled off its centre (where the value is written) and inside its border."""
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3]
    axes = figure.axes[0]
    x, y = axes.transData.transform((column - 0.3, row - 0.3))
    return pixels[int(round(pixels.shape[0] - y)), int(round(x))].astype(int)


def test_equal_values_get_equal_colours_whatever_the_patient_maximum():
    scale = colour_scale("dissimilarity")
    assert (scale.low, scale.high) == (0.0, 2.0)
    low = matrix_figure(frame(LOW_PATIENT), scale, "low", "Cosine dissimilarity", highlight=("A", "B"))
    high = matrix_figure(frame(HIGH_PATIENT), scale, "high", "Cosine dissimilarity", highlight=("A", "B"))
    # 0.10 sits at (1, 2) in the low patient and at (0, 2) in the high one; the diagonal 0 everywhere
    same_value = cell_pixel(low, 1, 2), cell_pixel(high, 0, 2)
    np.testing.assert_allclose(same_value[0], same_value[1], atol=2)
    expected = np.round(np.array(matplotlib.colormaps["plasma"](0.10 / 2.0)[:3]) * 255)
    np.testing.assert_allclose(same_value[0], expected, atol=2)
    np.testing.assert_allclose(cell_pixel(low, 0, 0), cell_pixel(high, 1, 1), atol=2)
    # the low patient's maximum stays dark: 0.147 is not painted with the top of the map
    assert cell_pixel(low, 0, 1).sum() < cell_pixel(high, 0, 1).sum() - 150
    for figure in (low, high):
        colorbar = figure.axes[1]
        assert colorbar.get_ylim() == pytest.approx((0.0, 2.0))
        texts = [t.get_text() for t in figure.texts]
        assert any("Colour scale 0–2 (full range of cosine dissimilarity)" in t for t in texts)
        assert any("outlined: most divergent pair A – B" in t for t in texts)
    cells = heatmap(frame(LOW_PATIENT), scale), heatmap(frame(HIGH_PATIENT), scale)
    np.testing.assert_array_equal(cells[0].colors[1, 2], cells[1].colors[0, 2])
    np.testing.assert_array_equal(cells[0].colors[1, 2], expected)
    assert not cells[0].dark[0, 1] and cells[1].dark[0, 1]  # 0.147: white text; 1.80 (bright): black


def test_distance_scale_is_the_reference_cohort_of_the_model():
    model = FeatureReduction.load(model_path("SARC021-lung-paper"))
    reference = np.asarray(model.reference["MIRVMaxDistance"])
    scale = colour_scale("distance", model)
    assert (scale.low, scale.high) == (0.0, reference.max())
    assert f"n={reference.size}" in scale.describe()
    percentiles = colour_scale("distance", model, "reference-percentiles")
    assert (percentiles.low, percentiles.high) == pytest.approx(tuple(np.percentile(reference, [5, 95])))
    assert "5th–95th percentile" in percentiles.describe()
    figure = matrix_figure(frame(HIGH_PATIENT) * 20, scale, "distance", "Euclidean distance")
    assert figure.axes[1].get_ylim() == pytest.approx((0.0, reference.max()))


def test_values_outside_the_scale_are_clipped_and_missing_values_grey():
    scale = ColourScale(0.0, 2.0, "test")
    colours = scale.colors(np.array([-1.0, 0.0, 2.0, 3.0, np.nan]))
    np.testing.assert_array_equal(colours[0], colours[1])
    np.testing.assert_array_equal(colours[2], colours[3])
    np.testing.assert_array_equal(colours[4], [0.6, 0.6, 0.6])


def test_colour_map_lightness_rises_monotonically_for_greyscale_print():
    rgb = matplotlib.colormaps[colour_scale("dissimilarity").colormap](np.linspace(0, 1, 64))[:, :3]
    luminance = rgb @ np.array([0.2126, 0.7152, 0.0722])  # what a greyscale printer keeps
    assert np.all(np.diff(luminance) > 0)


def test_distance_without_reference_cohort_is_refused():
    with pytest.raises(ValueError, match="no reference cohort"):
        colour_scale("distance", None)
