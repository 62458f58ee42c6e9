"""Run one cohort analysis end to end and write its tables, figures and provenance into a folder.

The CLI (`mirv stats ...`) and the Slicer `MIRVCohort` module both call these functions, so a result table
means the same thing wherever it was made. File names are fixed per analysis (``correlate_rho.csv``,
``cox_summary.csv``, ``km_logrank.csv``, ...) so `report.py` can assemble them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from MIRVLib.file_names import file_stem
from MIRVLib.lesion_table import LESION_ID, PATIENT_ID, SITE, LesionTable
from MIRVLib.provenance import atomic_write_csv, atomic_write_json, atomic_write_text, provenance_record, sha256_frame
from MIRVLib.reduction import FeatureReduction, ReductionSettings
from MIRVLib.resources import model_path
from MIRVLib.stats import figures, summary
from MIRVLib.stats.compare import kruskal_wallis
from MIRVLib.stats.correlate import spearman_matrix
from MIRVLib.stats.cox import fit_cox, model_variables
from MIRVLib.stats.discrimination import discrimination_text, fitted_cox_discrimination
from MIRVLib.stats.join import CATEGORICAL, AnalysisTable, missing_report
from MIRVLib.stats.simulate import (
    CURVE_K,
    DEFAULT_STRATEGIES,
    RECIST_EXCLUDED_SITES,
    RECOVERY_TARGET,
    simulate_sampling,
)
from MIRVLib.stats.survival import km_analysis

ANALYSES = ("correlate", "cox", "km", "compare", "roc", "model", "simulate", "icc", "variation", "cluster_features")


@dataclass
class AnalysisOutput:
    """What one analysis wrote: tables by file stem (also kept in memory for table nodes) and figure paths."""

    name: str
    out_dir: Path
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    summary: str = ""  # the console summary (MIRVLib.stats.summary.console_block), printed by `mirv stats`

    def table_path(self, stem: str) -> Path:
        return self.out_dir / f"{stem}.csv"

    @property
    def summary_path(self) -> Path:
        return self.out_dir / f"{self.name}_summary.txt"


def _write(
    output: AnalysisOutput,
    table: AnalysisTable | None,
    columns: Sequence[str],
    parameters: Mapping[str, Any],
    inputs: Mapping[str, str | Path] | None,
    extra: Mapping[str, Any],
) -> AnalysisOutput:
    """Write every table, the missing-value report of the columns used, unmatched IDs, the console summary
    (``<analysis>_summary.txt``, also in the provenance, for `report.py`) and provenance."""
    output.out_dir.mkdir(parents=True, exist_ok=True)
    if table is not None:
        output.tables[f"{output.name}_missing"] = missing_report(table.frame, columns, table.types)
        if len(table.unmatched):
            output.tables[f"{output.name}_unmatched"] = table.unmatched
    for stem, frame in output.tables.items():
        atomic_write_csv(output.table_path(stem), frame)
    if output.summary:
        atomic_write_text(output.summary_path, output.summary + "\n")
    record_extra = {"analysis": output.name, **extra, "tables": [f"{s}.csv" for s in output.tables],
                    "figures": [p.name for p in output.figures], "summary": output.summary}
    if table is not None:
        record_extra["table"] = {**table.describe(), "sha256": sha256_frame(table.frame)}
    output.provenance = provenance_record(inputs=inputs, parameters=dict(parameters), extra=record_extra)
    atomic_write_json(output.out_dir / f"{output.name}_provenance.json", output.provenance)
    return output


def _square(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename_axis("column").reset_index()


def run_correlate(table: AnalysisTable, columns: Sequence[str], out_dir: str | Path, *, missing: str = "listwise",
                  alpha: float = 0.05, inputs: Mapping[str, str | Path] | None = None) -> AnalysisOutput:
    result = spearman_matrix(table.frame, columns, missing=missing)
    output = AnalysisOutput("correlate", Path(out_dir))
    output.tables.update(correlate_rho=_square(result.rho), correlate_p=_square(result.p),
                         correlate_fdr=_square(result.fdr), correlate_n=_square(result.n),
                         correlate_pairs=result.long_table())
    circles = figures.correlation_circles(result, alpha)
    output.figures.append(figures.save_figure(circles, output.out_dir / "correlate_circles.png"))
    n = int(result.n.to_numpy().min())
    output.summary = summary.correlate_summary(output.tables["correlate_pairs"], missing, alpha)
    return _write(output, table, list(result.rho.columns), {"columns": list(columns), "missing": missing, "alpha": alpha},
                  inputs, {"n": n, "method": "Spearman (scipy.stats.spearmanr); BH-FDR over the lower triangle"})


def run_cox(table: AnalysisTable, duration: str, event: str, covariates: Sequence[str], out_dir: str | Path, *,
            interactions: Sequence[str] = (), categorical: Sequence[str] = (), reference: Mapping[str, object] | None = None,
            standardize: bool = False, penalizer: float = 0.0, times: Sequence[float] | None = None, resamples: int = 500,
            seed: int = 0, ordinal: Mapping[str, Sequence[str]] | None = None,
            inputs: Mapping[str, str | Path] | None = None) -> AnalysisOutput:
    """Also writes ``cox_discrimination.csv``: Harrell's and Uno's C (bootstrap CI over ``resamples`` with
    ``seed``), AUC(t) at ``times`` (default: event-time quartiles) and the integrated Brier score.
    ``ordinal`` columns are coded 0, 1, 2, ... in their given level order instead of dummy-coded."""
    variables = model_variables(covariates, interactions)
    ordinal = {name: list(levels) for name, levels in (ordinal or {}).items()}
    categorical = [c for c in dict.fromkeys([*categorical, *(c for c in variables if table.types.get(c) == CATEGORICAL)])
                   if c not in ordinal]
    result = fit_cox(table.frame, duration, event, covariates, interactions, categorical, reference, standardize, penalizer,
                     ordinal=ordinal)
    output = AnalysisOutput("cox", Path(out_dir))
    model = {k: v for k, v in result.model.items() if k not in {"encoding", "warnings"}}
    output.tables.update(cox_summary=result.summary, cox_ph_test=result.ph_test, cox_model=pd.DataFrame([model]))
    title = f"Cox PH on {duration} (n = {model['n']}, events = {model['events']}, C = {model['concordance']:.3f})"
    output.figures.append(figures.save_figure(figures.forest_plot(result.summary, title), output.out_dir / "cox_forest.png"))
    output.tables["cox_discrimination"] = fitted_cox_discrimination(
        result.fitter, result.design.frame, result.design.columns, duration, event, times, resamples=resamples, seed=seed)
    output.summary = summary.cox_summary(result.summary, result.model, duration) + "\n" + \
        discrimination_text(output.tables["cox_discrimination"], resamples, seed)
    used = list(dict.fromkeys([duration, event, *variables]))
    parameters = {"duration": duration, "event": event, "covariates": list(covariates), "interactions": list(interactions),
                  "categorical": categorical, "ordinal": ordinal, "reference": dict(reference or {}), "standardize": standardize,
                  "penalizer": penalizer, "times": None if times is None else [float(t) for t in times],
                  "resamples": resamples, "seed": seed}
    return _write(output, table, used, parameters, inputs,
                  {"n": model["n"], "encoding": result.model["encoding"], "warnings": result.model["warnings"],
                   "method": "lifelines CoxPHFitter; PH test: Schoenfeld residuals vs rank(time)"})


def run_km(table: AnalysisTable, duration: str, event: str, metrics: Sequence[str], out_dir: str | Path, *,
           group_by: str | None = None, cutoff: float | Mapping[str, float] | None = None, univariable_cox: bool = False,
           duration_label: str | None = None, time_unit: str | None = None,
           inputs: Mapping[str, str | Path] | None = None) -> AnalysisOutput:
    """``time_unit`` (days, months, ...) labels the time axis and the median survival times; it is not
    converted, only named (without it the label says the unit was not given)."""
    result = km_analysis(table.frame, duration, event, metrics, group_by, cutoff, univariable_cox)
    output = AnalysisOutput("km", Path(out_dir))
    output.tables["km_logrank"] = result.table
    time_label = figures.time_label(duration_label or duration, time_unit)
    for curve in result.curves:
        path = output.out_dir / f"km_{file_stem(curve.metric)}_{file_stem(curve.subgroup)}.png"
        output.figures.append(figures.save_figure(figures.km_plot(curve, time_label), path))
    output.summary = summary.km_summary(result.table, event, time_label)
    parameters = {"duration": duration, "event": event, "metrics": list(metrics), "group_by": group_by,
                  "cutoff": dict(cutoff) if isinstance(cutoff, Mapping) else cutoff, "univariable_cox": univariable_cox,
                  "time_unit": time_unit}
    return _write(output, table, [duration, event, *metrics, *([group_by] if group_by else [])], parameters, inputs,
                  {"method": "lifelines KaplanMeierFitter, logrank_test; split ≥ cutoff (median per subgroup); BH over all rows"})


def run_compare(table: AnalysisTable, metrics: Sequence[str], group: str, out_dir: str | Path, *,
                inputs: Mapping[str, str | Path] | None = None) -> AnalysisOutput:
    tests, levels = kruskal_wallis(table.frame, metrics, group)
    output = AnalysisOutput("compare", Path(out_dir))
    output.tables.update(compare_kruskal=tests, compare_groups=levels)
    for _, row in tests.iterrows():
        path = output.out_dir / f"compare_{file_stem(row['metric'])}_by_{file_stem(group)}.png"
        output.figures.append(figures.save_figure(figures.box_plot(table.frame, row["metric"], group, row["p"]), path))
    output.summary = summary.compare_summary(tests, group)
    return _write(output, table, [*metrics, group], {"metrics": list(metrics), "group": group}, inputs,
                  {"method": "scipy.stats.kruskal; BH over metrics"})


def run_simulate(vectors: pd.DataFrame, sites: pd.Series | None, out_dir: str | Path, *,
                 strategies: Sequence[str] = DEFAULT_STRATEGIES, simulations: int = 500, seed: int = 0,
                 curve_k: Sequence[int] = CURVE_K, target: float = RECOVERY_TARGET,
                 exclude_sites: Sequence[str] = RECIST_EXCLUDED_SITES, cap: bool = True,
                 inputs: Mapping[str, str | Path] | None = None, extra: Mapping[str, Any] | None = None,
                 progress: Callable[[int, int, str], None] | None = None) -> AnalysisOutput:
    result = simulate_sampling(vectors, sites, strategies, simulations, seed, curve_k, target, exclude_sites, cap, progress)
    output = AnalysisOutput("simulate", Path(out_dir))
    output.tables.update(simulate_summary=result.summary, simulate_curve=result.curve,
                         simulate_lesions_needed=result.lesions_needed, simulate_patients=result.patients)
    output.figures.append(figures.save_figure(figures.simulation_plot(result), output.out_dir / "simulate.png"))
    output.summary = summary.simulate_summary(result.summary, result.lesions_needed, result.settings)
    return _write(output, None, [], result.settings, inputs,
                  {**(extra or {}), "vectorsSha256": sha256_frame(vectors),
                   "method": "Henry et al. 2022 lesion subsampling; indexes = mean / max pairwise cosine dissimilarity"})


def run_simulate_lesions(lesions: LesionTable, out_dir: str | Path, *, model: str | Path | None = None,
                         preset: str = "paper", sites: pd.DataFrame | None = None,
                         inputs: Mapping[str, str | Path] | None = None, **options: Any) -> AnalysisOutput:
    """``run_simulate`` on a lesion feature table, reduced with a saved or shipped ``model`` or else a reduction
    fitted on the table with ``preset``; the reduction used is recorded in the provenance."""
    model_file = model_path(model) if model else None
    reduction = FeatureReduction.load(model_file) if model_file else FeatureReduction(ReductionSettings(preset=preset))
    vectors, site = simulation_inputs(lesions, reduction, sites)
    record = {"preset": reduction.settings.preset, "selectedFeatures": reduction.selected,
              "model": str(model) if model else None, "fitted": model_file is None}
    return run_simulate(vectors, site, out_dir, inputs={**(inputs or {}), **({"model": model_file} if model_file else {})},
                        extra={"reduction": record}, **options)


def simulation_inputs(table: LesionTable, reduction: FeatureReduction,
                      sites: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.Series | None]:
    """Reduced lesion vectors and their sites: a ``Site`` column of the feature table, or a separate
    (PatientID, LesionID, Site) table, which wins where both exist."""
    if not reduction.is_fitted:
        reduction.fit(table)
    vectors = reduction.transform(table)
    site = None
    if SITE in table.frame.columns:
        site = pd.Series(table.frame[SITE].to_numpy(), index=vectors.index, dtype=object).replace("", None)
    if sites is not None:
        missing = [c for c in (PATIENT_ID, LESION_ID, SITE) if c not in sites.columns]
        if missing:
            raise ValueError(f"sites table: missing column(s) {missing}; needs PatientID, LesionID, Site")
        keyed = sites.astype({PATIENT_ID: str, LESION_ID: str}).set_index([PATIENT_ID, LESION_ID])[SITE]
        unknown = keyed.index.difference(vectors.index)
        if len(unknown):
            raise ValueError(f"sites table: {len(unknown)} lesion(s) not in the feature table, e.g. {'/'.join(unknown[0])}")
        given = keyed.reindex(vectors.index)
        site = given if site is None else given.combine_first(site)
    return vectors, site
