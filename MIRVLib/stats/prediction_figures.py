"""Figures of the discrimination analyses: ROC curves of several predictors, and fold scores of CV models."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from MIRVLib.stats.roc import ROCResult
from MIRVLib.stats.summary import format_p


def roc_plot(result: ROCResult, outcome: str, title: str = "") -> Figure:
    """Every predictor's ROC curve in one panel, AUC and its CI in the legend, chance line dashed."""
    figure = Figure(figsize=(5.6, 5.6 + 0.22 * len(result.curves)))
    ax = figure.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    for (name, (fpr, tpr)), (_, row) in zip(result.curves.items(), result.summary.iterrows()):
        ax.step(fpr, tpr, where="post", linewidth=1.6,
                label=f"{name}: AUC {row['AUC']:.3f} [{row['CILower']:.3f}, {row['CIUpper']:.3f}]")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("1 − specificity (false-positive rate)")
    ax.set_ylabel("sensitivity (true-positive rate)")
    method = "DeLong" if (result.summary["CIMethod"] == "delong").all() else "bootstrap"
    if not title:
        title = f"ROC for {outcome} (n = {result.n}, {result.positives} positive; 95 % CI {method})"
        if len(result.pairs) == 1:  # two predictors: the comparison the reader came for
            title += f"\nDeLong paired test p = {format_p(result.pairs['P'].iloc[0])}"
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=8, frameon=False)  # below: never over a curve
    return figure


def fold_scores_plot(folds: pd.DataFrame, metric: str, title: str) -> Figure:
    """Per feature set: box of the fold scores, the folds as dots, the mean as a diamond."""
    sets = list(dict.fromkeys(folds["Set"]))
    figure = Figure(figsize=(1.8 + 1.3 * len(sets), 4.2))
    ax = figure.add_subplot()
    values = [folds.loc[folds["Set"] == s, metric].dropna().to_numpy() for s in sets]
    ax.boxplot(values, showfliers=False, widths=0.5)
    jitter = np.random.default_rng(0)  # fixed: the figure is reproducible
    for k, v in enumerate(values, start=1):
        ax.scatter(k + jitter.uniform(-0.12, 0.12, len(v)), v, s=9, alpha=0.5, color="tab:blue", zorder=3)
        ax.scatter([k], [v.mean()], marker="D", color="tab:red", zorder=4)
    ax.set_xticks(range(1, len(sets) + 1), sets, rotation=20 if len(sets) > 3 else 0)
    ax.axhline(0.5, linestyle="--", color="grey", linewidth=0.8)
    ax.set_ylabel(f"{metric} per test fold")
    ax.set_title(title, fontsize=9)
    return figure
