"""The patient's colour-coded lesion matrix: a PNG (matplotlib's Agg canvas: no display, no pyplot state) and
the cells of the module's interactive table, with the same colours, text and scale."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from MIRVLib.provenance import atomic_write_bytes
from MIRVLogic.overlay import COLORMAP, value_colors


def colour_scale_maximum(values: np.ndarray) -> float:
    """Top of the colour scale (the bottom is 0): the largest finite value, or 1 when there is none above 0."""
    return float(np.nanmax(values)) if np.isfinite(values).any() and np.nanmax(values) > 0 else 1.0


def cell_text(value: float, high: float) -> str:
    return "–" if not np.isfinite(value) else f"{value:.2f}" if high < 10 else f"{value:.1f}"


def dark_cell(value: float, high: float) -> bool:
    """Whether a cell is light enough to need black text (the colour map is bright at the top)."""
    return bool(np.isfinite(value) and value > 0.6 * high)


@dataclass
class Heatmap:
    """An N×N matrix as table cells: lesion labels, values, display text and RGB (0–255) per cell."""

    labels: list[str]
    values: np.ndarray
    text: list[list[str]]
    colors: np.ndarray  # (N, N, 3) uint8
    dark: np.ndarray  # (N, N) bool: black text on this cell


def heatmap(matrix: pd.DataFrame) -> Heatmap:
    values = matrix.to_numpy(dtype=float)
    high = colour_scale_maximum(values)
    colors = np.round(value_colors(values.ravel(), 0.0, high) * 255).astype(np.uint8).reshape(*values.shape, 3)
    text = [[cell_text(value, high) for value in row] for row in values]
    dark = np.vectorize(lambda value: dark_cell(value, high), otypes=[bool])(values)
    return Heatmap([str(n) for n in matrix.index], values, text, colors, dark)


def matrix_png(matrix: pd.DataFrame, title: str, value_label: str, sites: dict[str, str] | None = None,
               highlight: tuple[str, str] | None = None, dpi: int = 110) -> bytes:
    """An N×N heatmap labelled with lesion names (and sites), every cell annotated with its value."""
    names = [str(n) for n in matrix.index]
    values = matrix.to_numpy(dtype=float)
    labels = [f"{n}\n({sites[n]})" if sites and sites.get(n) else n for n in names]
    size = max(4.5, 0.9 * len(names) + 2.5)
    figure = Figure(figsize=(size + 1.2, size), dpi=dpi)  # no pyplot: leaves Slicer's backend alone
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    high = colour_scale_maximum(values)
    image = axes.imshow(np.ma.masked_invalid(values), cmap=COLORMAP, vmin=0.0, vmax=high)
    axes.set_xticks(range(len(names)), labels, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(names)), labels, fontsize=8)
    for i in range(len(names)):
        for j in range(len(names)):
            value = values[i, j]
            axes.text(j, i, cell_text(value, high), ha="center", va="center", fontsize=8,
                      color="black" if dark_cell(value, high) else "white")
    if highlight is not None:
        a, b = names.index(highlight[0]), names.index(highlight[1])
        for row, column in ((a, b), (b, a)):
            axes.add_patch(Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="#00e5ff", linewidth=2.5))
    colorbar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    colorbar.set_label(value_label)
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def save_matrix_png(path: str | os.PathLike[str], matrix: pd.DataFrame, title: str, value_label: str,
                    sites: dict[str, str] | None = None, highlight: tuple[str, str] | None = None) -> Path:
    return atomic_write_bytes(path, matrix_png(matrix, title, value_label, sites, highlight))
