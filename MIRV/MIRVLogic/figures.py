"""The patient's colour-coded lesion matrix as a PNG (matplotlib's Agg canvas: no display, no pyplot state)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from MIRVLib.provenance import atomic_write_bytes
from MIRVLogic.overlay import COLORMAP


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
    high = np.nanmax(values) if np.isfinite(values).any() and np.nanmax(values) > 0 else 1.0
    image = axes.imshow(np.ma.masked_invalid(values), cmap=COLORMAP, vmin=0.0, vmax=high)
    axes.set_xticks(range(len(names)), labels, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(names)), labels, fontsize=8)
    for i in range(len(names)):
        for j in range(len(names)):
            value = values[i, j]
            text = "–" if not np.isfinite(value) else f"{value:.2f}" if high < 10 else f"{value:.1f}"
            shade = "black" if np.isfinite(value) and value > 0.6 * high else "white"
            axes.text(j, i, text, ha="center", va="center", fontsize=8, color=shade)
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
