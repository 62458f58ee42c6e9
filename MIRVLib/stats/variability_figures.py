"""Figures of the agreement and variability analyses: ICC per feature, |CV| per feature, the feature dendrogram.

Drawn like :mod:`MIRVLib.stats.figures` (standalone Agg figures). Long feature lists are cut to the ``MAX_SHOWN``
most telling features (lowest ICC, highest median |CV|), and the title says so: 1218 rows are not a figure.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.cluster.hierarchy import dendrogram

from MIRVLib.feature_clusters import ClusterSelection
from MIRVLib.stats.variation import MULTI, OLIGO, VariationResult

MAX_SHOWN = 30
# matplotlib 3.10 replaced boxplot(vert=False) by orientation='horizontal' (vert is deprecated); 3.8-3.9 need vert
HORIZONTAL = ({"orientation": "horizontal"} if "orientation" in inspect.signature(Axes.boxplot).parameters
              else {"vert": False})
MAX_LABELLED_LEAVES = 60


def _cut(count: int, shown: int, what: str) -> str:
    return f" ({shown} of {count} features, {what})" if shown < count else ""


def icc_plot(table: pd.DataFrame, threshold: float | None = None) -> Figure:
    """ICC(2,1) and ICC(3,1) with 95 % CI per feature; the lowest ICC(2,1) first when cut."""
    defined = table.dropna(subset=["ICC2"]).sort_values("ICC2")
    rows = defined.head(MAX_SHOWN).iloc[::-1]
    figure = Figure(figsize=(7.5, 1.2 + 0.32 * max(len(rows), 1)))
    ax = figure.add_subplot()
    y = np.arange(len(rows))
    for name, offset, colour in (("ICC2", 0.15, "#2c3e50"), ("ICC3", -0.15, "#c0392b")):
        value = rows[name].to_numpy(dtype=float)
        lower, upper = rows[f"{name}_CILower"].to_numpy(dtype=float), rows[f"{name}_CIUpper"].to_numpy(dtype=float)
        ax.errorbar(value, y + offset, xerr=[value - lower, upper - value], fmt="o", color=colour, ms=4, capsize=2,
                    label={"ICC2": "ICC(2,1) absolute agreement", "ICC3": "ICC(3,1) consistency"}[name])
    if threshold is not None:
        ax.axvline(threshold, color="grey", linestyle="--", linewidth=0.8, label=f"threshold {threshold:g}")
    ax.set_yticks(y, rows["Feature"].astype(str), fontsize=7)
    ax.set_xlabel("ICC (95 % CI)")
    ax.set_xlim(min(-0.05, float(np.nanmin(rows[["ICC2_CILower", "ICC3_CILower"]].to_numpy(), initial=0))), 1.02)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("Inter-rater agreement" + _cut(len(defined), len(rows), "lowest ICC(2,1)"), fontsize=10)
    return figure


def variation_plot(result: VariationResult) -> Figure:
    """Per-patient |CV| per feature (box per feature, split oligo/multi when grouped), threshold line."""
    tests = result.tests.dropna(subset=["P"]).sort_values("MedianAbsCV", ascending=False)
    shown = tests.head(MAX_SHOWN)["Feature"].tolist()[::-1]
    figure = Figure(figsize=(8.0, 1.2 + 0.34 * max(len(shown), 1)))
    ax = figure.add_subplot()
    values = result.values
    groups = [(OLIGO, "#2c7fb8"), (MULTI, "#d95f0e")] if "Group" in values.columns else [(None, "#2c3e50")]
    width = 0.8 / len(groups)
    for i, (group, colour) in enumerate(groups):
        rows = values if group is None else values[values["Group"] == group]
        data = [rows[f].dropna().to_numpy(dtype=float) for f in shown]
        positions = np.arange(len(shown)) + (i - (len(groups) - 1) / 2) * width
        keep = [j for j, d in enumerate(data) if len(d)]
        parts = ax.boxplot([data[j] for j in keep], positions=positions[keep], widths=width * 0.9, **HORIZONTAL,
                           showfliers=False, patch_artist=True, manage_ticks=False)
        for box in parts["boxes"]:
            box.set(facecolor=colour, alpha=0.45)
        ax.plot([], [], color=colour, linewidth=6, alpha=0.45, label=f"{group} (n={len(rows)})" if group else "patients")
    threshold = result.settings["threshold"]
    ax.axvline(threshold, color="grey", linestyle="--", linewidth=0.8, label=f"threshold {threshold:g}")
    ax.set_yticks(np.arange(len(shown)), shown, fontsize=7)
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlim(left=0)
    ax.set_xlabel("|coefficient of variation| across a patient's lesions")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Intrapatient feature variation" + _cut(len(tests), len(shown), "highest median |CV|"), fontsize=10)
    return figure


def dendrogram_plot(selection: ClusterSelection) -> Figure:
    """The feature tree on 1 − |r| with the cut; selected representatives in bold when labelled."""
    leaves = len(selection.features)
    labelled = leaves <= MAX_LABELLED_LEAVES
    figure = Figure(figsize=(8.0, 1.2 + 0.22 * leaves) if labelled else (10.0, 5.0))
    ax = figure.add_subplot()
    dendrogram(selection.linkage_matrix, labels=selection.features if labelled else None, no_labels=not labelled,
               orientation="right" if labelled else "top", color_threshold=selection.threshold, ax=ax,
               leaf_font_size=7)
    line = ax.axvline if labelled else ax.axhline
    line(selection.threshold, color="grey", linestyle="--", linewidth=0.8)
    if labelled:
        for label in ax.get_yticklabels():
            label.set_fontweight("bold" if label.get_text() in selection.selected else "normal")
        ax.set_xlabel(f"1 − |{selection.correlation} r| ({selection.method} linkage)")
    else:
        ax.set_ylabel(f"1 − |{selection.correlation} r| ({selection.method} linkage)")
    kept = f"bold = kept, {selection.representative}" if labelled else f"one kept per cluster, {selection.representative}"
    ax.set_title(f"{leaves} features → {len(selection.selected)} clusters (cut at {selection.threshold:g}; {kept})",
                 fontsize=10)
    return figure
