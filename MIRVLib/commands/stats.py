"""`mirv stats correlate|cox|km|compare|roc|model|simulate|report`: cohort statistics on the user's own columns.

Every analysis reads one or more --table CSVs joined on --id ('PatientID,USUBJID' lets each table use
whichever of the names it has), may add --derive columns ('AGE>=65'), and writes CSV tables, PNG figures
and <analysis>_provenance.json into --out; 'report' turns a folder into one HTML page.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from MIRVLib.cli_options import add_renamed, cannot_write
from MIRVLib.options import (
    COLUMN_TYPES,
    CURVE_K,
    DEFAULT_STRATEGIES,
    PRESETS,
    RECIST_EXCLUDED_SITES,
    RECOVERY_TARGET,
    add_nonfinite_option,
)

# Tables and analyses (pandas, SciPy, lifelines, statsmodels, matplotlib) are imported when a command runs,
# not for `mirv --help`.


def _names(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated options both work: ``--columns A,B --columns C``."""
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out = {}
    for value in _names(values):
        if "=" not in value:
            raise ValueError(f"{option} expects COLUMN=VALUE, got '{value}'")
        key, _, item = value.partition("=")
        out[key.strip()] = item.strip()
    return out


def _table_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", action="append", required=True, metavar="CSV",
                        help="patient-level CSV (repeat to join several, e.g. patients.csv and clinical.csv)")
    parser.add_argument("--id", default="PatientID", metavar="COLUMN[,ALIAS]",
                        help="patient ID column to join on; comma-separated alternatives per table (default PatientID)")
    parser.add_argument("--derive", action="append", metavar="EXPR",
                        help="derived 0/1 column, e.g. 'AGE>=65', 'HighVol=BaselineVolumeTotal>=median' (repeatable)")
    parser.add_argument("--type", action="append", metavar="COLUMN=KIND",
                        help=f"override the detected column type ({'/'.join(COLUMN_TYPES)})")
    parser.add_argument("-o", "--out", required=True, help="output folder")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("stats", help="cohort statistics: correlations, Cox, Kaplan–Meier, comparisons, ROC, "
                                   "cross-validated models, simulation",
                                   description=__doc__.split("\n\n")[1] if __doc__ else None)
    commands = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True,
                                     help="`mirv stats ANALYSIS --help` tells more")

    p = commands.add_parser("correlate", help="Spearman matrix with BH-FDR and the circle plot")
    _table_options(p)
    p.add_argument("--columns", action="append", required=True, help="columns to correlate (comma-separated)")
    p.add_argument("--missing", choices=["listwise", "pairwise"], default="listwise",
                   help="patients with a missing value: left out of every pair (listwise, default) or only of the "
                   "pairs that need the value (pairwise)")
    p.add_argument("--alpha", type=float, default=0.05, help="FDR level below which circles are drawn")
    p.set_defaults(func=run_correlate)

    p = commands.add_parser("cox", help="multivariable Cox proportional hazards")
    _table_options(p)
    _survival_options(p)
    p.add_argument("--covariates", action="append", required=True, help="covariate columns (comma-separated)")
    p.add_argument("--interactions", action="append", help="interaction terms like CPCELL:MIRVMaxDissimilarity")
    p.add_argument("--categorical", action="append", help="columns to dummy-code (text columns always are)")
    p.add_argument("--reference", action="append", metavar="COLUMN=LEVEL", help="reference level of a categorical column")
    p.add_argument("--ordinal", action="append", metavar="COLUMN=LEVEL1,LEVEL2,...",
                   help="code a categorical column 0,1,2,... in this level order: one HR per step (repeatable)")
    p.add_argument("--standardize", action="store_true", help="z-score continuous covariates (HR per SD)")
    p.add_argument("--penalizer", type=float, default=0.0, help="lifelines L2 penalizer (default 0)")
    _discrimination_options(p)
    p.set_defaults(func=run_cox)

    p = commands.add_parser("km", help="Kaplan–Meier by median split, log-rank with BH across subgroups and metrics")
    _table_options(p)
    _survival_options(p)
    p.add_argument("--metrics", "--column", dest="metrics", action="append", required=True, help="columns to split")
    add_renamed(p, "--group", old=["--group-by"], help="also analyse within each level of this column (e.g. histology)")
    p.add_argument("--cutoff", action="append", metavar="VALUE|COLUMN=VALUE", help="fixed cut-off instead of the median")
    p.add_argument("--cox", action="store_true", help="add a univariable Cox HR of the metric per subgroup")
    p.add_argument("--time-unit", metavar="UNIT",
                   help="unit of the duration column (e.g. days, weeks, months, years), shown on the time axis and "
                   "with the median survival times; not converted (default: the label says 'unit not given')")
    p.set_defaults(func=run_km)

    p = commands.add_parser("compare", help="Kruskal–Wallis of metrics across a category, with box plots")
    _table_options(p)
    p.add_argument("--metrics", action="append", required=True, help="metric columns (comma-separated)")
    p.add_argument("--group", required=True, help="categorical column")
    p.set_defaults(func=run_compare)

    p = commands.add_parser("roc", help="AUC with DeLong CI per predictor, DeLong paired tests with BH-FDR, ROC curves")
    _table_options(p)
    p.add_argument("--outcome", required=True, help="binary outcome column (the larger of its two values is positive)")
    p.add_argument("--predictors", action="append", required=True, help="predictor columns (comma-separated)")
    p.add_argument("--ci", choices=["delong", "bootstrap"], default="delong", help="AUC confidence interval (default delong)")
    p.add_argument("--bootstrap", type=int, default=2000, metavar="N", help="resamples of --ci bootstrap (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.set_defaults(func=run_roc)

    p = commands.add_parser("model", help="cross-validated logistic or Cox models comparing feature sets")
    _table_options(p)
    p.add_argument("--set", action="append", required=True, metavar="NAME=COL1,COL2",
                   help="a feature set (repeat: --set clinical=AGE,BECOG --set combined=AGE,BECOG,MIRVMaxDissimilarity)")
    p.add_argument("--outcome", help="binary outcome column: logistic regression")
    p.add_argument("--duration", help="survival time column: Cox model (with --event)")
    p.add_argument("--event", help="event column (1 = event, 0 = censored)")
    p.add_argument("--folds", type=int, default=5, help="k of repeated stratified k-fold (default 5)")
    p.add_argument("--repeats", type=int, default=10, help="repeats of the k-fold split (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fold split (default 0)")
    p.add_argument("--C", type=float, help="L2 penalty strength of the logistic model (inverse; default unpenalised)")
    p.add_argument("--penalizer", type=float, default=0.0, help="lifelines L2 penalizer of the Cox model (default 0)")
    p.add_argument("--times", action="append", metavar="T1,T2,...",
                   help="Cox: also mean time-dependent AUC and integrated Brier score over these times")
    p.set_defaults(func=run_model)

    p = commands.add_parser("combat", help="ComBat harmonisation of lesion features across batches (sites, scanners)")
    p.add_argument("--features", required=True, help="lesion feature CSV: PatientID, LesionID, [Site], features...")
    p.add_argument("--batch", required=True, metavar="COLUMN", help="batch column (in --features or --batch-table)")
    p.add_argument("--batch-table", metavar="CSV",
                   help="CSV with PatientID, [LesionID,] the batch and covariate columns (without LesionID: per patient)")
    p.add_argument("--covariates", action="append", help="columns whose effects ComBat preserves (comma-separated)")
    p.add_argument("--categorical", action="append", help="covariates to dummy-code (text columns always are)")
    add_nonfinite_option(p)
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.set_defaults(func=run_combat)

    p = commands.add_parser("icc", help="ICC(2,1) and ICC(3,1) with 95 %% CI per feature measured by two or more raters")
    p.add_argument("--features", required=True, help="long CSV: one row per lesion per rater (reader or segmentation)")
    p.add_argument("--rater", required=True, help="column naming the rater / segmentation of each row")
    p.add_argument("--rated", default="PatientID,LesionID", metavar="COLUMNS",
                   help="columns identifying what was rated (default PatientID,LesionID)")
    p.add_argument("--columns", action="append", help="feature columns (default: every numeric column)")
    p.add_argument("--threshold", type=float, help="draw and count an ICC threshold (e.g. 0.75)")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.set_defaults(func=run_icc)

    p = commands.add_parser("variation", help="tests on the per-patient |CV| of feature_variation.csv (Henry et al. 2022)")
    p.add_argument("--variation", required=True, help="feature_variation.csv written by `mirv cohort`")
    p.add_argument("--threshold", type=float, default=0.2, help="|CV| the one-sample test compares with (default 0.2)")
    p.add_argument("--test", choices=("wilcoxon", "t"), default="wilcoxon",
                   help="one-sample Wilcoxon signed-rank (default) or Student's t (as Henry et al.)")
    p.add_argument("--alternative", choices=("two-sided", "greater", "less"), default="two-sided",
                   help="alternative hypothesis of the test against --threshold (default two-sided)")
    p.add_argument("--patients", help="patients.csv (PatientID, NumLesions) to compare oligo- with multi-metastatic patients")
    p.add_argument("--lesion-count", default="NumLesions", help="lesion count column of --patients (default NumLesions)")
    p.add_argument("--oligo-max", type=int, default=5, help="oligometastatic = 2..N lesions, multi above (default 5)")
    p.add_argument("--columns", action="append", help="features to test (default: all)")
    p.add_argument("--restrict-to", help="feature list file (e.g. `mirv robustness` output or cluster_selected.csv)")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.set_defaults(func=run_variation)

    p = commands.add_parser("cluster-features", help="hierarchical-clustering feature selection, one feature per cluster")
    p.add_argument("--features", required=True, help="lesion feature CSV: PatientID, LesionID, features...")
    p.add_argument("--threshold", type=float, default=0.3, help="tree cut on the distance 1 - |r| (default 0.3)")
    p.add_argument("--correlation", choices=("pearson", "spearman"), default="pearson",
                   help="correlation r of the distance 1 - |r| (default pearson)")
    p.add_argument("--linkage", choices=("average", "complete", "single"), default="average",
                   help="hierarchical-clustering linkage (default average)")
    p.add_argument("--representative", choices=("lexicographic", "central"), default="lexicographic",
                   help="first name in sorted order (Henry et al.'s rule) or highest mean |r| within the cluster")
    p.add_argument("--restrict-to", help="cluster only these features (e.g. the `mirv robustness` list)")
    add_nonfinite_option(p, default="fail")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.set_defaults(func=run_cluster_features)

    p = commands.add_parser("simulate", help="lesion subsampling simulation (Henry et al. 2022)")
    p.add_argument("--features", required=True, help="lesion feature CSV: PatientID, LesionID, [Site], features...")
    p.add_argument("--model", help="MIRV model JSON or shipped name (e.g. SARC021-lung-reference); else fitted")
    add_renamed(p, "--reduction", old=["--preset"], choices=PRESETS, default="paper",
                help="feature reduction fitted when there is no --model (default paper)")
    p.add_argument("--sites", help="CSV with PatientID, LesionID, Site (overrides the Site column of --features)")
    p.add_argument("--strategies", action="append",
                   help=f"lesion sampling strategies, comma-separated (default: {','.join(DEFAULT_STRATEGIES)}; "
                   "also all, random:K, per-site:K)")
    p.add_argument("--simulations", type=int, default=500, help="random draws per strategy (default 500)")
    p.add_argument("--seed", type=int, default=0, help="random seed, recorded in the provenance (default 0)")
    p.add_argument("--max-k", type=int, default=max(CURVE_K), help="recovery curve for k = 2..MAX_K random lesions")
    p.add_argument("--target", type=float, default=RECOVERY_TARGET,
                   help=f"recovery %% the curve must reach (default {RECOVERY_TARGET:g})")
    p.add_argument("--exclude-sites", default=",".join(RECIST_EXCLUDED_SITES),
                   help="sites RECIST-like sampling skips (comma-separated)")
    p.add_argument("--no-cap", action="store_true", help="do not cap recovery at 100 %%")
    add_nonfinite_option(p)
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.set_defaults(func=run_simulate)

    p = commands.add_parser("report", help="assemble the analyses in a folder into report.html")
    add_renamed(p, "--in", old=["--out"], dest="folder", required=True,
                help="folder the analyses wrote into (their --out); report.html is written there")
    p.add_argument("--title", default="MIRV cohort statistics", help="page title (default: %(default)s)")
    p.set_defaults(func=run_report)


def _discrimination_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--times", action="append", metavar="T1,T2,...",
                        help="times of the time-dependent AUC (default: quartiles of the event times)")
    parser.add_argument("--bootstrap", type=int, default=500, metavar="N", help="resamples of the C-index CIs (default 500)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")


def _times(values: list[str] | None) -> list[float] | None:
    try:
        return [float(v) for v in _names(values)] or None
    except ValueError as error:
        raise ValueError(f"--times expects numbers, e.g. 180,365: {error}") from None


def _survival_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", required=True, help="survival time column")
    parser.add_argument("--event", required=True, help="event column (1 = event, 0 = censored)")


def _load(args: argparse.Namespace):
    """The joined tables, after ``--out`` is checked (not an input, a writable folder): before any work."""
    from MIRVLib.output_checks import check_output_folder
    from MIRVLib.stats.join import load_tables

    check_output_folder(args.out, args.table)
    table = load_tables(args.table, args.id, _names(args.derive), _pairs(args.type, "--type"))
    inputs = {f"table{i + 1}": path for i, path in enumerate(args.table)}
    if len(table.unmatched):
        counts = table.unmatched.groupby("table").size()
        print("IDs not in every table (left out): " + ", ".join(f"{t}: {n}" for t, n in counts.items()), file=sys.stderr)
    return table, inputs


def _guarded(name: str, body) -> int:
    """One error line naming the problem instead of a traceback: exit code 2 for unusable input (tables,
    columns, model, --out), 1 when the analysis itself cannot be done on the data or its output not written."""
    from MIRVLib.lesion_table import LesionTableError
    from MIRVLib.reduction import ModelError
    from MIRVLib.stats.analyses import AnalysisOutput
    from MIRVLib.stats.cox import CoxFitError

    try:
        output = body()
    except CoxFitError as error:
        print(f"mirv stats {name}: error: {error}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError, LesionTableError, ModelError) as error:
        print(f"mirv stats {name}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # e.g. a full disk
        print(f"mirv stats {name}: error: {cannot_write(error, '--out')}", file=sys.stderr)
        return 1
    if isinstance(output, AnalysisOutput):
        if output.summary:
            print(output.summary)
        files = [f"{s}.csv" for s in output.tables] + [p.name for p in output.figures]
        print(f"{name}: wrote {len(files)} files to {output.out_dir} ({', '.join(files[:6])}{', ...' if len(files) > 6 else ''})")
    return 0


def run_correlate(args: argparse.Namespace) -> int:
    def body():
        from MIRVLib.stats import analyses

        table, inputs = _load(args)
        return analyses.run_correlate(table, _names(args.columns), args.out, missing=args.missing, alpha=args.alpha,
                                      inputs=inputs)
    return _guarded("correlate", body)


def run_cox(args: argparse.Namespace) -> int:
    def body():
        from MIRVLib.stats import analyses

        table, inputs = _load(args)
        return analyses.run_cox(table, args.duration, args.event, _names(args.covariates), args.out,
                                interactions=_names(args.interactions), categorical=_names(args.categorical),
                                reference=_pairs(args.reference, "--reference"), standardize=args.standardize,
                                penalizer=args.penalizer, times=_times(args.times), resamples=args.bootstrap,
                                seed=args.seed, ordinal=_ordinal(args.ordinal), inputs=inputs)
    return _guarded("cox", body)


def _ordinal(values: list[str] | None) -> dict[str, list[str]]:
    """``--ordinal RECIST=PD,SD,PR,CR`` → {'RECIST': ['PD', 'SD', 'PR', 'CR']}; the levels keep their order."""
    out = {}
    for value in values or []:
        column, _, levels = value.partition("=")
        names = [level.strip() for level in levels.split(",") if level.strip()]
        if not column.strip() or len(names) < 2:
            raise ValueError(f"--ordinal expects COLUMN=LEVEL1,LEVEL2,... (two or more levels), got '{value}'")
        out[column.strip()] = names
    return out


def _cutoffs(values: list[str] | None) -> float | dict[str, float] | None:
    items = _names(values)
    if not items:
        return None
    if len(items) == 1 and "=" not in items[0]:
        return float(items[0])
    return {k: float(v) for k, v in _pairs(items, "--cutoff").items()}


def run_km(args: argparse.Namespace) -> int:
    def body():
        from MIRVLib.stats import analyses

        table, inputs = _load(args)
        return analyses.run_km(table, args.duration, args.event, _names(args.metrics), args.out, group_by=args.group,
                               cutoff=_cutoffs(args.cutoff), univariable_cox=args.cox, time_unit=args.time_unit,
                               inputs=inputs)
    return _guarded("km", body)


def run_compare(args: argparse.Namespace) -> int:
    def body():
        from MIRVLib.stats import analyses

        table, inputs = _load(args)
        return analyses.run_compare(table, _names(args.metrics), args.group, args.out, inputs=inputs)
    return _guarded("compare", body)


def run_roc(args: argparse.Namespace) -> int:
    def body():
        from MIRVLib.stats import prediction

        table, inputs = _load(args)
        return prediction.run_roc(table, args.outcome, _names(args.predictors), args.out, ci=args.ci,
                                  resamples=args.bootstrap, seed=args.seed, inputs=inputs)
    return _guarded("roc", body)


def run_model(args: argparse.Namespace) -> int:
    def body():
        from MIRVLib.stats import prediction
        from MIRVLib.stats.model_cv import parse_sets

        sets = parse_sets(args.set)
        table, inputs = _load(args)
        return prediction.run_model(table, sets, args.out, outcome=args.outcome, duration=args.duration, event=args.event,
                                    folds=args.folds, repeats=args.repeats, seed=args.seed, C=args.C,
                                    penalizer=args.penalizer, times=_times(args.times), inputs=inputs)
    return _guarded("model", body)


def run_combat(args: argparse.Namespace) -> int:
    def body():
        from MIRVLib.harmonisation import read_lesions_with_batch
        from MIRVLib.output_checks import check_output_folder
        from MIRVLib.stats.combat import run_combat as combat

        covariates = _names(args.covariates)
        check_output_folder(args.out, [args.features, args.batch_table])
        lesions, meta = read_lesions_with_batch(args.features, [args.batch, *covariates], args.batch_table,
                                                nonfinite=args.nonfinite)
        inputs = {"features": args.features, **({"batchTable": args.batch_table} if args.batch_table else {})}
        return combat(lesions, meta, args.out, batch=args.batch, covariates=covariates,
                      categorical=_names(args.categorical), inputs=inputs)
    return _guarded("combat", body)


def run_icc(args: argparse.Namespace) -> int:
    def body():
        from MIRVLib.output_checks import check_output_folder
        from MIRVLib.stats.join import read_table
        from MIRVLib.stats.variability import run_icc as icc

        check_output_folder(args.out, [args.features])
        frame = read_table(args.features)
        return icc(frame, args.rater, args.out, target=_names([args.rated]), features=_names(args.columns) or None,
                   threshold=args.threshold, inputs={"features": args.features})
    return _guarded("icc", body)


def run_variation(args: argparse.Namespace) -> int:
    def body():
        from MIRVLib.output_checks import check_output_folder
        from MIRVLib.reduction import read_feature_list
        from MIRVLib.stats.join import read_table
        from MIRVLib.stats.variability import run_variation as variation
        from MIRVLib.stats.variation import lesion_groups, variation_table

        check_output_folder(args.out, [args.variation, args.patients, args.restrict_to])
        columns = _names(args.columns) + (read_feature_list(args.restrict_to) if args.restrict_to else [])
        values = variation_table(read_table(args.variation), columns)
        groups, inputs = None, {"variation": args.variation}
        if args.patients:
            groups = lesion_groups(read_table(args.patients), args.lesion_count, args.oligo_max)
            inputs["patients"] = args.patients
        return variation(values, args.out, threshold=args.threshold, test=args.test, alternative=args.alternative,
                         groups=groups, oligo_max=args.oligo_max if groups is not None else None, inputs=inputs)
    return _guarded("variation", body)


def run_cluster_features(args: argparse.Namespace) -> int:
    def body():
        from MIRVLib.feature_clusters import ClusterSelection
        from MIRVLib.lesion_table import LesionTable
        from MIRVLib.output_checks import check_output_folder
        from MIRVLib.reduction import read_feature_list
        from MIRVLib.stats.variability import run_cluster_features as cluster

        check_output_folder(args.out, [args.features, args.restrict_to])
        selection = ClusterSelection(args.threshold, args.correlation, args.linkage, args.representative)
        table = LesionTable.read_csv(args.features, nonfinite=args.nonfinite)
        features = read_feature_list(args.restrict_to) if args.restrict_to else table.feature_names
        inputs = {"features": args.features, **({"restrictTo": args.restrict_to} if args.restrict_to else {})}
        return cluster(table.frame, args.out, selection=selection, features=features, inputs=inputs)
    return _guarded("cluster-features", body)


def run_simulate(args: argparse.Namespace) -> int:
    def body():
        from tqdm import tqdm

        from MIRVLib.lesion_table import LesionTable
        from MIRVLib.stats import analyses
        from MIRVLib.stats.join import read_table

        lesions = LesionTable.read_csv(args.features, nonfinite=args.nonfinite)
        sites = read_table(args.sites) if args.sites else None
        strategies = _names(args.strategies) or list(DEFAULT_STRATEGIES)
        inputs = {"features": args.features, **({"sites": args.sites} if args.sites else {})}
        with tqdm(total=len(strategies) + args.max_k - 1, desc="mirv stats simulate", disable=None, file=sys.stderr) as bar:
            def progress(done: int, total: int, message: str) -> None:
                bar.set_postfix_str(message, refresh=False)
                bar.update(done - bar.n)

            return analyses.run_simulate_lesions(
                lesions, args.out, model=args.model, preset=args.reduction, sites=sites, inputs=inputs,
                strategies=strategies, simulations=args.simulations, seed=args.seed,
                curve_k=tuple(range(2, args.max_k + 1)), target=args.target, exclude_sites=_names([args.exclude_sites]),
                cap=not args.no_cap, progress=progress)
    return _guarded("simulate", body)


def run_report(args: argparse.Namespace) -> int:
    def body():
        from MIRVLib.stats.report import build_report, report_summary

        path = build_report(Path(args.folder), args.title)
        print(report_summary(args.folder, path))
        return path
    return _guarded("report", body)

