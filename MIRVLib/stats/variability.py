"""Run the agreement and intrapatient-variability analyses end to end (`mirv stats icc|variation|cluster-features`).

Like :mod:`MIRVLib.stats.analyses`: one function per analysis, called by the CLI and the MIRV Cohort module,
writing fixed file names (``icc_summary.csv``, ``variation_tests.csv``, ``cluster_features.csv``), figures, a
console summary and ``<analysis>_provenance.json``. These analyses read lesion- or feature-level tables, not the
joined patient table, so they record their inputs' hashes instead of a table description.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from MIRVLib.feature_clusters import ClusterSelection
from MIRVLib.provenance import sha256_frame
from MIRVLib.stats import figures
from MIRVLib.stats.analyses import AnalysisOutput, _write
from MIRVLib.stats.icc import DEFAULT_TARGET, icc_table
from MIRVLib.stats.summary import console_block
from MIRVLib.stats.variability_figures import dendrogram_plot, icc_plot, variation_plot
from MIRVLib.stats.variation import DEFAULT_CV_THRESHOLD, MULTI, OLIGO, variation_tests


def run_icc(frame: pd.DataFrame, rater: str, out_dir: str | Path, *, target: Sequence[str] = DEFAULT_TARGET,
            features: Sequence[str] | None = None, threshold: float | None = None,
            inputs: Mapping[str, str | Path] | None = None) -> AnalysisOutput:
    """ICC(2,1) and ICC(3,1) with 95 % CI per feature of a long table (one row per target per rater)."""
    table = icc_table(frame, rater, target, features, source=str(frame.attrs.get("source", "features")))
    output = AnalysisOutput("icc", Path(out_dir))
    output.tables["icc_summary"] = table
    output.figures.append(figures.save_figure(icc_plot(table, threshold), output.out_dir / "icc.png"))
    defined = table.dropna(subset=["ICC2"])
    facts = {"features": len(table), "targets": int(table["N"].max()), "raters": int(table["Raters"].max())}
    if threshold is not None:
        facts.update({f"ICC(2,1) >= {threshold:g}": int((defined["ICC2"] >= threshold).sum()),
                      f"ICC(3,1) >= {threshold:g}": int((defined["ICC3"] >= threshold).sum())})
    shown = defined.sort_values("ICC2", kind="stable").set_index("Feature")[["N", "ICC2", "ICC2_CILower", "ICC2_CIUpper", "ICC3",
                                                               "ICC3_CILower", "ICC3_CIUpper"]]
    output.summary = console_block("Intraclass correlation (two-way ANOVA; lowest ICC(2,1) first)", facts, shown, max_rows=10,
                                   note="ICC2 = ICC(2,1) absolute agreement, ICC3 = ICC(3,1) consistency; F-based 95 % CI")
    parameters = {"rater": rater, "target": list(target), "features": list(features) if features else None,
                  "threshold": threshold}
    return _write(output, None, [], parameters, inputs,
                  {"n": facts["targets"], "featuresSha256": sha256_frame(frame), "undefined": int(table["ICC2"].isna().sum()),
                   "method": "Shrout & Fleiss ICC(2,1), ICC(3,1) from the two-way ANOVA mean squares; McGraw & Wong "
                             "F-based CIs (as pingouin.intraclass_corr); targets without every rater left out per feature"})


def run_variation(values: pd.DataFrame, out_dir: str | Path, *, threshold: float = DEFAULT_CV_THRESHOLD,
                  test: str = "wilcoxon", alternative: str = "two-sided", groups: pd.Series | None = None,
                  oligo_max: int | None = None, inputs: Mapping[str, str | Path] | None = None) -> AnalysisOutput:
    """One-sample test of each feature's per-patient |CV| against ``threshold``; oligo vs multi with ``groups``."""
    result = variation_tests(values, threshold, test, alternative, groups)
    output = AnalysisOutput("variation", Path(out_dir))
    output.tables.update(variation_tests=result.tests, variation_values=result.values.reset_index())
    output.figures.append(figures.save_figure(variation_plot(result), output.out_dir / "variation.png"))
    tests = result.tests
    measured = int(values.notna().any(axis=1).sum())  # single-lesion patients have a row but no |CV|
    facts = {"patients": f"{measured} of {len(values)}", "features": len(tests), "threshold": threshold, "test": test,
             "alternative": alternative, "FDR < 0.05": int((tests["FDR"] < 0.05).sum())}
    columns = ["N", "MedianAbsCV", "P", "FDR"]
    if groups is not None:
        group = result.values["Group"]
        facts.update({f"oligo (2-{oligo_max} lesions)" if oligo_max else OLIGO: int((group == OLIGO).sum()),
                      MULTI: int((group == MULTI).sum()),
                      "oligo vs multi FDR < 0.05": int((tests["FDRGroups"] < 0.05).sum())})
        columns += ["MedianOligo", "MedianMulti", "PGroups", "FDRGroups"]
    shown = tests.sort_values("P", kind="stable").set_index("Feature")[columns]
    output.summary = console_block("Per-patient |CV| of each feature (Henry et al. 2022)", facts, shown, max_rows=10,
                                   p_columns=("P", "FDR", "PGroups", "FDRGroups"))
    method = ("one-sample " + ("Wilcoxon signed-rank (scipy.stats.wilcoxon on |CV| - threshold)" if test == "wilcoxon"
                               else "t-test (scipy.stats.ttest_1samp)")
              + "; Mann-Whitney U (scipy.stats.mannwhitneyu, two-sided) oligo vs multi; BH-FDR per family")
    return _write(output, None, [], {**result.settings, "oligoMax": oligo_max}, inputs,
                  {"n": int(tests["N"].max()), "variationSha256": sha256_frame(values), "method": method})


def run_cluster_features(frame: pd.DataFrame, out_dir: str | Path, *, selection: ClusterSelection | None = None,
                         features: Sequence[str] | None = None,
                         inputs: Mapping[str, str | Path] | None = None) -> AnalysisOutput:
    """Hierarchical-clustering feature selection on a lesion feature table; writes clusters and the kept list."""
    selection = (selection or ClusterSelection()).fit(frame, features)
    output = AnalysisOutput("cluster_features", Path(out_dir))
    output.tables.update(cluster_features=selection.clusters,
                         cluster_selected=selection.clusters.loc[selection.clusters["Selected"], ["Feature", "Cluster"]])
    output.figures.append(figures.save_figure(dendrogram_plot(selection), output.out_dir / "cluster_dendrogram.png"))
    sizes = selection.clusters.groupby("Cluster").size()
    kept = selection.clusters[selection.clusters["Selected"]].set_index("Feature")
    kept = kept.assign(ClusterSize=sizes.reindex(kept["Cluster"]).to_numpy())[["Cluster", "ClusterSize",
                                                                               "MeanAbsCorrelation"]]
    facts = {"lesions": len(frame), "features": len(selection.features), "clusters": len(selection.selected),
             "largest cluster": int(sizes.max()), **selection.settings()}
    output.summary = console_block("Hierarchical-clustering feature selection (one feature per cluster)", facts,
                                   kept.sort_values("ClusterSize", ascending=False, kind="stable"), max_rows=15,
                                   note="cluster_selected.csv is a feature list `mirv cohort --restrict-to` reads")
    return _write(output, None, [], selection.settings(), inputs,
                  {"n": len(frame), "featuresSha256": sha256_frame(frame), "selected": selection.selected,
                   "method": "scipy.cluster.hierarchy.linkage on 1 - |correlation|, fcluster(criterion='distance')"})
