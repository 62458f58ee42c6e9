"""PNG figures of the cohort analyses, drawn on standalone Agg figures.

``matplotlib.figure.Figure`` + the Agg canvas never touches pyplot's global backend, so drawing works the
same headless, in a worker thread and inside Slicer (whose own matplotlib backend is left alone).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from MIRVLib.provenance import atomic_write_bytes
from MIRVLib.stats.compare import group_samples
from MIRVLib.stats.correlate import CorrelationResult
from MIRVLib.stats.simulate import INDEXES, SimulationResult
from MIRVLib.stats.survival import KMCurve

DPI = 130


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Render to PNG in memory and write atomically (a viewer never sees half an image)."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return atomic_write_bytes(path, buffer.getvalue())


def correlation_circles(result: CorrelationResult, alpha: float = 0.05, title: str = "") -> Figure:
    """The paper's Figure 2A style: lower triangle, circle area by significance (−log10 FDR), colour by ρ,
    no circle where FDR > alpha; ρ printed in every significant cell."""
    labels = list(result.rho.columns)
    k = len(labels)
    figure = Figure(figsize=(1.2 + 0.85 * k, 0.9 + 0.75 * k))
    ax = figure.add_subplot()
    cmap = "RdBu_r"
    xs, ys, sizes, colours = [], [], [], []
    for i in range(k):
        for j in range(i):
            fdr, rho = result.fdr.iat[i, j], result.rho.iat[i, j]
            if np.isfinite(fdr) and fdr <= alpha:
                xs.append(j)
                ys.append(i)
                sizes.append(min(-np.log10(max(fdr, 1e-12)), 6.0))
                colours.append(rho)
                ax.text(j, i, f"{rho:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if abs(rho) > 0.6 else "black", zorder=3)
    scale = 1800 / max(k, 1)
    artist = ax.scatter(xs, ys, s=[scale * (0.25 + s / 6) for s in sizes], c=colours, cmap=cmap, vmin=-1, vmax=1,
                        edgecolors="grey", linewidths=0.5, zorder=2)
    for i in range(k):
        for j in range(i):
            ax.add_patch(_cell(j, i))
    ax.set_xticks(range(k - 1), labels[:-1], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(1, k), labels[1:], fontsize=8)
    ax.set_xlim(-0.5, k - 1.5)
    ax.set_ylim(k - 0.5, 0.5)
    ax.set_aspect("equal")
    for spine in ax.spines.values():
        spine.set_visible(False)
    colourbar = figure.colorbar(artist, ax=ax, shrink=0.7)
    colourbar.set_label("Spearman ρ")
    ax.set_title(title or f"Spearman ρ (shown where BH-FDR ≤ {alpha:g}; n = {int(np.nanmax(result.n.to_numpy()))})", fontsize=9)
    return figure


def _cell(x: float, y: float) -> Rectangle:
    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="#dddddd", linewidth=0.5, zorder=1)


def forest_plot(summary: pd.DataFrame, title: str = "") -> Figure:
    """Hazard ratios with 95 % CI on a log axis, one row per design column, p-value at the right."""
    rows = summary.iloc[::-1]
    figure = Figure(figsize=(7.5, 0.9 + 0.38 * len(rows)))
    ax = figure.add_subplot()
    y = np.arange(len(rows))
    hr = rows["exp(coef)"].to_numpy()
    lower, upper = rows["exp(coef) lower 95%"].to_numpy(), rows["exp(coef) upper 95%"].to_numpy()
    significant = rows["p"].to_numpy() < 0.05
    ax.errorbar(hr, y, xerr=[hr - lower, upper - hr], fmt="none", ecolor="#555555", capsize=3)
    ax.scatter(hr, y, c=np.where(significant, "#c0392b", "#2c3e50"), marker="s", zorder=3)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(y, rows["covariate"].astype(str), fontsize=8)
    ax.set_xlabel("Hazard ratio (95 % CI, log scale)")
    for yi, p in zip(y, rows["p"].to_numpy()):
        ax.annotate(f"p={p:.3g}", xy=(1.01, yi), xycoords=("axes fraction", "data"), va="center", fontsize=7)
    ax.set_title(title or "Cox proportional hazards", fontsize=10)
    return figure


UNIT_NOT_GIVEN = "unit not given"


def time_label(duration: str, unit: str | None = None) -> str:
    """'T_OS (days)'; without a unit the label says so rather than let a reader guess days from months."""
    return f"{duration} ({unit.strip() if unit and unit.strip() else UNIT_NOT_GIVEN})"


def km_plot(curve: KMCurve, time_axis: str = "time") -> Figure:
    """Low vs high curves with 95 % CI and censor ticks; the numbers at risk / censored / events under the
    axis; the title gives the raw log-rank p and the BH-adjusted p the table reports."""
    from lifelines.plotting import add_at_risk_counts

    figure = Figure(figsize=(7, 5.6))
    ax = figure.add_subplot()
    censors = {"marker": "|", "ms": 7, "mew": 1}
    curve.low.plot_survival_function(ax=ax, ci_show=True, color="#2c7fb8", show_censors=True, censor_styles=censors)
    curve.high.plot_survival_function(ax=ax, ci_show=True, color="#d95f0e", show_censors=True, censor_styles=censors)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(time_axis)
    ax.set_ylabel("Survival probability")
    adjusted = f", FDR = {curve.fdr:.3g}" if np.isfinite(curve.fdr) else ""
    ax.set_title(f"{curve.metric} — {curve.subgroup}: log-rank p = {curve.p:.3g}{adjusted}", fontsize=10)
    ax.legend(loc="upper right", fontsize=8, title="ticks: censored", title_fontsize=8)
    add_at_risk_counts(curve.low, curve.high, ax=ax, fig=figure)
    return figure


def box_plot(frame: pd.DataFrame, metric: str, group: str, p: float | None = None) -> Figure:
    """Box per level with the individual patients jittered on top (small groups must stay visible)."""
    samples = group_samples(frame, metric, group)
    levels, data = list(samples), list(samples.values())
    figure = Figure(figsize=(max(4.0, 1.3 * len(levels) + 2), 4.5))
    ax = figure.add_subplot()
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(levels) + 1), [f"{lv}\n(n={len(d)})" for lv, d in zip(levels, data)], fontsize=8)
    rng = np.random.default_rng(0)
    for position, values in enumerate(data, start=1):
        ax.scatter(position + rng.uniform(-0.12, 0.12, len(values)), values, s=10, alpha=0.6, color="#2c3e50")
    ax.set_ylabel(metric)
    ax.set_xlabel(group)
    ax.set_title(f"{metric} by {group}" + (f": Kruskal–Wallis p = {p:.3g}" if p is not None and np.isfinite(p) else ""),
                 fontsize=10)
    return figure


def simulation_plot(result: SimulationResult) -> Figure:
    """Left: % recovered per strategy (mean, 95 % interval); right: recovery against k with the target line."""
    figure = Figure(figsize=(12, 4.8))
    left, right = figure.subplots(1, 2)
    strategies = list(dict.fromkeys(result.summary["strategy"]))
    width = 0.38
    colours = {INDEXES[0]: "#1b9e77", INDEXES[1]: "#d95f02"}
    for offset, index in zip((-width / 2, width / 2), INDEXES):
        rows = result.summary[result.summary["index"] == index].set_index("strategy").loc[strategies]
        x = np.arange(len(strategies)) + offset
        left.bar(x, rows["mean"], width, color=colours[index], label=index)
        left.errorbar(x, rows["mean"], yerr=[rows["mean"] - rows["lower_95"], rows["upper_95"] - rows["mean"]],
                      fmt="none", ecolor="black", capsize=3, linewidth=0.8)
    left.set_xticks(np.arange(len(strategies)), strategies, rotation=30, ha="right", fontsize=8)
    left.set_ylabel("% of exhaustive value recovered")
    left.set_ylim(0, 105)
    left.legend(fontsize=8)
    left.set_title(f"Sampling strategies ({result.settings['simulations']} simulations, "
                   f"{result.settings['patients_included']} patients)", fontsize=10)
    target = result.settings["target_percent"]
    for index in INDEXES:
        rows = result.curve[result.curve["index"] == index]
        right.plot(rows["k"], rows["mean"], marker="o", color=colours[index], label=index)
        right.fill_between(rows["k"], rows["cohort_mean_lower_95"], rows["cohort_mean_upper_95"], color=colours[index], alpha=0.2)
    right.axhline(target, color="grey", linestyle="--", linewidth=0.8)
    needed = ", ".join(f"{r['index']} k = {int(r['lesions_needed'])}" if pd.notna(r["lesions_needed"])
                       else f"{r['index']} not reached" for _, r in result.lesions_needed.iterrows())
    right.set_title(f"Random k lesions; {target:g} % reached at\n{needed}", fontsize=9)
    right.set_xlabel("lesions sampled (k)")
    right.set_ylabel("% recovered (mean, 95 % interval of the cohort mean)")
    right.set_ylim(0, 105)
    right.legend(fontsize=8)
    return figure

