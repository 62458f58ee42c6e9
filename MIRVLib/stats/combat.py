"""`mirv stats combat`: harmonise lesion features across batches and write what was done and how much it removed.

The science is :class:`MIRVLib.harmonisation.ComBat`; this writes the harmonised lesion table (input columns, the
batch/covariate columns after the IDs), the fitted parameters, per-batch and per-feature tables, a PCA figure
before/after and provenance — the same files from the CLI and the Slicer MIRVCohort module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from MIRVLib.harmonisation import METHOD, ComBat, _as_text, batch_variance_share, harmonise_table
from MIRVLib.lesion_table import METADATA_COLUMNS, PATIENT_ID, LesionTable
from MIRVLib.provenance import atomic_write_json, sha256_frame
from MIRVLib.stats.analyses import AnalysisOutput, _write
from MIRVLib.stats.figures import save_figure
from MIRVLib.stats.summary import console_block, format_number


def run_combat(table: LesionTable, meta: pd.DataFrame, out_dir: str | Path, *, batch: str,
               covariates: Sequence[str] = (), categorical: Sequence[str] = (),
               inputs: Mapping[str, str | Path] | None = None) -> AnalysisOutput:
    """Fit ComBat on every feature of ``table`` (batch/covariates per lesion in ``meta``) and write the outputs."""
    combat = ComBat(batch, covariates, categorical)
    harmonised = harmonise_table(table, combat, meta, fit=True)
    output = AnalysisOutput("combat", Path(out_dir))
    labels = _as_text(meta[batch])  # as ComBat labels its batches (1.0 is batch "1")
    before = batch_variance_share(table.features, labels)
    after = batch_variance_share(harmonised.features, labels)
    lesions = harmonised.frame
    head = [c for c in lesions.columns if c in METADATA_COLUMNS]
    extra = meta.reset_index(drop=True)[[c for c in [batch, *covariates] if c not in head]]
    output.tables["combat_features"] = pd.concat([lesions[head], extra, lesions[harmonised.feature_names]], axis=1)
    patients = pd.Series(table.frame[PATIENT_ID].to_numpy(), index=meta.index)
    output.tables["combat_batches"] = pd.DataFrame({
        "Batch": combat.batches, "Lesions": combat.counts,
        "Patients": [patients[(labels == b).to_numpy()].nunique() for b in combat.batches],
        "MeanGammaStar": combat.gamma.mean(axis=1), "MeanDeltaStar": combat.delta.mean(axis=1),
    })
    output.tables["combat_batch_variance"] = pd.DataFrame({
        "Feature": combat.features, "BatchShareBefore": before.to_numpy(), "BatchShareAfter": after.to_numpy()})
    output.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(output.out_dir / "combat_parameters.json", combat.to_dict(), indent=None)
    output.figures.append(save_figure(pca_figure(table.features, harmonised.features, labels, batch),
                                      output.out_dir / "combat_pca.png"))
    facts = {"lesions": table.num_lesions, "patients": len(table.patient_ids), "features": len(combat.features),
             "batches": len(combat.batches), "covariates": ",".join(covariates) or "none"}
    output.summary = console_block(
        f"ComBat harmonisation across {batch!r} (parametric empirical Bayes)", facts,
        output.tables["combat_batches"],
        note=f"variance explained by batch, median over features: {format_number(100 * before.median())} % before, "
             f"{format_number(100 * after.median())} % after (combat_batch_variance.csv)")
    parameters = {"batch": batch, "covariates": list(covariates), "categorical": list(combat.levels)}
    return _write(output, None, [], parameters, inputs,
                  {"method": METHOD, "parametersFile": "combat_parameters.json", "lesions": table.num_lesions,
                   "inputSha256": sha256_frame(table.frame),
                   "batchShareMedian": {"before": float(before.median()), "after": float(after.median())}})


def pca_figure(before: pd.DataFrame, after: pd.DataFrame, batch: pd.Series, name: str) -> Figure:
    """Lesions on the first two principal components of the z-scored features before harmonisation, and the
    harmonised lesions projected on the same axes (same z-scoring): batch clusters should merge."""
    mean, std = before.mean(), before.std(ddof=0).replace(0, 1)
    z_before = ((before - mean) / std).to_numpy()
    z_after = ((after - mean) / std).to_numpy()
    _, _, axes_t = np.linalg.svd(z_before - z_before.mean(axis=0), full_matrices=False)
    basis = axes_t[:2].T
    figure = Figure(figsize=(10, 4.4))
    panels = figure.subplots(1, 2, sharex=True, sharey=True)
    labels = batch.to_numpy()
    for panel, values, title in zip(panels, (z_before, z_after), ("before ComBat", "after ComBat")):
        scores = (values - z_before.mean(axis=0)) @ basis
        for level in sorted(np.unique(labels)):
            rows = labels == level
            panel.scatter(scores[rows, 0], scores[rows, 1], s=12, alpha=0.6, label=f"{name} = {level} (n = {rows.sum()})")
        panel.set_title(title)
        panel.set_xlabel("PC1 (of features before)")
        panel.grid(alpha=0.3)
    panels[0].set_ylabel("PC2")
    panels[1].legend(loc="best", fontsize=8)
    figure.suptitle(f"Lesion features by {name}: principal components before and after ComBat")
    return figure
