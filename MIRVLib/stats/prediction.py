"""`mirv stats roc` and `mirv stats model` end to end: tables, figure, console summary and provenance.

Like ``analyses.run_*`` these are shared by the CLI and the Slicer MIRVCohort logic; file names are fixed
(``roc_summary.csv``, ``roc_pairs.csv``, ``model_summary.csv``, ``model_folds.csv``, ``model_comparison.csv``,
``model_predictions.csv``). The out-of-fold predictions of `model` are a table `roc` reads, so "clinical vs
clinical + MIRV" gets AUCs, DeLong CIs and DeLong's paired p on predictions no model was fitted on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from MIRVLib.stats import figures
from MIRVLib.stats.analyses import AnalysisOutput, _write
from MIRVLib.stats.join import AnalysisTable
from MIRVLib.stats.model_cv import ModelCVResult, cross_validate
from MIRVLib.stats.prediction_figures import fold_scores_plot, roc_plot
from MIRVLib.stats.roc import ROCResult, roc_analysis
from MIRVLib.stats.summary import console_block, format_interval


def roc_summary_text(result: ROCResult, outcome: str, ci: str, seed: int | None) -> str:
    facts = {"outcome": outcome, "n": result.n, "positive": result.positives, "CI": ci}
    if ci == "bootstrap":
        facts["seed"] = seed
    text = console_block(
        "ROC: AUC per predictor (higher value = positive)", facts,
        result.summary.set_index("Predictor")[["AUC"]].assign(**{"95% CI": [
            format_interval(lo, hi) for lo, hi in zip(result.summary["CILower"], result.summary["CIUpper"])]}))
    if len(result.pairs):
        pairs = result.pairs.set_axis([f"{a} - {b}" for a, b in zip(result.pairs["PredictorA"], result.pairs["PredictorB"])])
        text += "\n" + console_block("DeLong paired tests (BH-FDR over pairs)", None, pairs[["DeltaAUC", "Z", "P", "FDR"]])
    return text


def run_roc(table: AnalysisTable, outcome: str, predictors: Sequence[str], out_dir: str | Path, *, ci: str = "delong",
            resamples: int = 2000, seed: int = 0, inputs: Mapping[str, str | Path] | None = None) -> AnalysisOutput:
    result = roc_analysis(table.frame, outcome, predictors, ci=ci, resamples=resamples, seed=seed)
    output = AnalysisOutput("roc", Path(out_dir))
    output.tables.update(roc_summary=result.summary, roc_pairs=result.pairs)
    output.figures.append(figures.save_figure(roc_plot(result, outcome), output.out_dir / "roc_curves.png"))
    output.summary = roc_summary_text(result, outcome, ci, seed)
    parameters = {"outcome": outcome, "predictors": list(predictors), "ci": ci,
                  **({"resamples": resamples, "seed": seed} if ci == "bootstrap" else {})}
    return _write(output, table, [outcome, *predictors], parameters, inputs,
                  {"n": result.n, "positives": result.positives,
                   "method": "AUC = Mann-Whitney placement mean; DeLong (1988) variance and paired z test; "
                             "BH-FDR over pairs; bootstrap CI stratified on the outcome, percentile"})


def model_summary_text(result: ModelCVResult, folds: int, repeats: int, seed: int) -> str:
    facts = {"model": result.kind, "n": result.n, "events" if result.kind == "cox" else "positive": result.cases,
             "folds": folds, "repeats": repeats, "seed": seed}
    summary = result.summary
    rows = summary.set_axis([f"{s} | {m}" for s, m in zip(summary["Set"], summary["Metric"])])
    table = rows[["Mean"]].assign(**{"95% CI": [format_interval(lo, hi) for lo, hi in zip(rows["CILower"], rows["CIUpper"])]})
    failed = int((~result.folds["Fitted"]).sum()) if "Fitted" in result.folds else 0
    note = f"{failed} fold fit(s) did not converge (NaN in model_folds.csv)" if failed else ""
    text = console_block("Cross-validated models (CI: Nadeau-Bengio corrected t over folds; calibration: over repeats)",
                         facts, table, max_rows=60, note=note)
    if len(result.comparison):
        comparison = result.comparison
        shown = comparison.set_axis([f"{b} - {a} | {m}" for a, b, m in
                                     zip(comparison["SetA"], comparison["SetB"], comparison["Metric"])])
        shown = shown[["MeanDifference"]].assign(**{
            "95% CI": [format_interval(lo, hi) for lo, hi in zip(shown["CILower"], shown["CIUpper"])],
            "P": shown["P"], "FDR": shown["FDR"]})
        text += "\n" + console_block("Paired comparison on the same folds (corrected resampled t, BH-FDR)", None, shown)
    return text


def run_model(table: AnalysisTable, sets: Mapping[str, Sequence[str]], out_dir: str | Path, *, outcome: str | None = None,
              duration: str | None = None, event: str | None = None, folds: int = 5, repeats: int = 10, seed: int = 0,
              C: float | None = None, penalizer: float = 0.0, times: Sequence[float] | None = None,
              inputs: Mapping[str, str | Path] | None = None) -> AnalysisOutput:
    result = cross_validate(table.frame, sets, table.types, outcome=outcome, duration=duration, event=event, folds=folds,
                            repeats=repeats, seed=seed, C=C, penalizer=penalizer, times=times, id_column=table.id_column)
    output = AnalysisOutput("model", Path(out_dir))
    output.tables.update(model_summary=result.summary, model_folds=result.folds, model_comparison=result.comparison,
                         model_predictions=result.predictions)
    title = (f"{result.kind} model, {repeats} × {folds}-fold CV (seed {seed}), n = {result.n}, "
             f"{'events' if result.kind == 'cox' else 'positive'} = {result.cases}")
    output.figures.append(figures.save_figure(fold_scores_plot(result.folds, result.metric, title),
                                              output.out_dir / "model_folds.png"))
    output.summary = model_summary_text(result, folds, repeats, seed)
    targets = [duration, event] if result.kind == "cox" else [outcome]
    columns = list(dict.fromkeys([*targets, *(c for cols in sets.values() for c in cols)]))
    parameters = {"sets": {k: list(v) for k, v in sets.items()}, "outcome": outcome, "duration": duration, "event": event,
                  "folds": folds, "repeats": repeats, "seed": seed, "C": C, "penalizer": penalizer,
                  "times": None if times is None else [float(t) for t in times]}
    model = ("sklearn LogisticRegression (unpenalised)" if C is None else f"sklearn LogisticRegression (L2, C = {C:g})") \
        if result.kind == "logistic" else f"lifelines CoxPHFitter (penalizer {penalizer:g})"
    return _write(output, table, columns, parameters, inputs,
                  {"n": result.n, "cases": result.cases,
                   "method": f"{model}; features z-scored on the training fold; sklearn RepeatedStratifiedKFold "
                             "(stratified on outcome / event); fold CI and paired test: Nadeau-Bengio corrected "
                             "resampled t; calibration on out-of-fold predictions per repeat"})
