"""A patient's lesion matrix as a figure: a PNG (matplotlib's Agg canvas: no display, no pyplot state, so it
leaves Slicer's backend alone) and the cells of the Slicer module's interactive table — same colours, text and
scale, both from a fixed `MIRVLib.colour_scale.ColourScale`, which every figure states.

Pure Python: `mirv cohort --figures`, the Slicer module and MIRVBatch.py all draw with this module.
"""

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

from MIRVLib.colour_scale import ColourScale
from MIRVLib.provenance import atomic_write_bytes

# The most divergent pair: a black frame with a white core, visible on every colour and in greyscale print.
PAIR_OUTLINE = (("black", 4.0), ("white", 1.6))


def cell_text(value: float, scale: ColourScale) -> str:
    return "–" if not np.isfinite(value) else f"{value:.2f}" if scale.high < 10 else f"{value:.1f}"


@dataclass
class Heatmap:
    """An N×N matrix as table cells: lesion labels, values, display text and RGB (0–255) per cell."""

    labels: list[str]
    values: np.ndarray
    text: list[list[str]]
    colors: np.ndarray  # (N, N, 3) uint8
    dark: np.ndarray  # (N, N) bool: black text on this cell


def heatmap(matrix: pd.DataFrame, scale: ColourScale) -> Heatmap:
    values = matrix.to_numpy(dtype=float)
    colors = np.round(scale.colors(values) * 255).astype(np.uint8)
    text = [[cell_text(value, scale) for value in row] for row in values]
    dark = np.vectorize(scale.dark_text, otypes=[bool])(values)
    return Heatmap([str(n) for n in matrix.index], values, text, colors, dark)


def matrix_figure(matrix: pd.DataFrame, scale: ColourScale, title: str, value_label: str,
                  sites: dict[str, str] | None = None, highlight: tuple[str, str] | None = None,
                  dpi: int = 110) -> Figure:
    """An N×N heatmap labelled with lesion names (and sites), every cell annotated with its value, the most
    divergent pair outlined and the colour scale stated under the colour bar."""
    names = [str(n) for n in matrix.index]
    values = matrix.to_numpy(dtype=float)
    labels = [f"{n}\n({sites[n]})" if sites and sites.get(n) else n for n in names]
    size = max(5.0, 0.95 * len(names) + 3.0)
    figure = Figure(figsize=(size + 1.4, size + 0.4), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(np.ma.masked_invalid(values), cmap=scale.colormap, vmin=scale.low, vmax=scale.high)
    axes.set_xticks(range(len(names)), labels, rotation=45, ha="right", rotation_mode="anchor", fontsize=9)
    axes.set_yticks(range(len(names)), labels, fontsize=9)
    cells = heatmap(matrix, scale)  # the same text and text colour as the module's table
    for i in range(len(names)):
        for j in range(len(names)):
            axes.text(j, i, cells.text[i][j], ha="center", va="center", fontsize=9,
                      color="black" if cells.dark[i, j] else "white")
    if highlight is not None:
        a, b = names.index(highlight[0]), names.index(highlight[1])
        for row, column in ((a, b), (b, a)):
            for colour, width in PAIR_OUTLINE:
                axes.add_patch(Rectangle((column - 0.46, row - 0.46), 0.92, 0.92, fill=False, edgecolor=colour,
                                         linewidth=width))
    finite = values[np.isfinite(values)]
    below, above = bool(finite.size and finite.min() < scale.low), bool(finite.size and finite.max() > scale.high)
    extend = {(False, False): "neither", (True, False): "min", (False, True): "max", (True, True): "both"}
    colorbar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, extend=extend[below, above])
    colorbar.set_label(value_label)
    axes.set_title(title, fontsize=10)
    described = scale.describe()
    notes = [described[0].upper() + described[1:]]
    if highlight is not None:
        notes.append(f"outlined: most divergent pair {highlight[0]} – {highlight[1]}")
    figure.text(0.01, 0.01, "\n".join(notes), fontsize=8, ha="left", va="bottom")
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    return figure


def matrix_png(matrix: pd.DataFrame, scale: ColourScale, title: str, value_label: str,
               sites: dict[str, str] | None = None, highlight: tuple[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    matrix_figure(matrix, scale, title, value_label, sites, highlight).savefig(buffer, format="png")
    return buffer.getvalue()


def save_matrix_png(path: str | os.PathLike[str], matrix: pd.DataFrame, scale: ColourScale, title: str,
                    value_label: str, sites: dict[str, str] | None = None,
                    highlight: tuple[str, str] | None = None) -> Path:
    return atomic_write_bytes(path, matrix_png(matrix, scale, title, value_label, sites, highlight))
