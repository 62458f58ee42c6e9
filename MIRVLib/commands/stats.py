"""`mirv stats correlate|cox|km|compare|simulate|report`: cohort statistics on the user's own columns.

Every analysis reads one or more --table CSVs joined on --id ('PatientID,USUBJID' lets each table use
whichever of the names it has), may add --derive columns ('AGE>=65'), and writes CSV tables, PNG figures
and <analysis>_provenance.json into --out; 'report' turns a folder into one HTML page.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from MIRVLib.options import (
    COLUMN_TYPES,
    CURVE_K,
    DEFAULT_STRATEGIES,
    NONFINITE_POLICIES,
    PRESETS,
    RECIST_EXCLUDED_SITES,
    RECOVERY_TARGET,
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
    parser.add_argument("--out", required=True, help="output folder")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("stats", help="cohort statistics: correlations, Cox, Kaplan–Meier, comparisons, simulation",
                                   description=__doc__.split("\n\n")[1] if __doc__ else None)
    commands = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)

    p = commands.add_parser("correlate", help="Spearman matrix with BH-FDR and the circle plot")
    _table_options(p)
    p.add_argument("--columns", action="append", required=True, help="columns to correlate (comma-separated)")
    p.add_argument("--missing", choices=["listwise", "pairwise"], default="listwise")
    p.add_argument("--alpha", type=float, default=0.05, help="FDR level below which circles are drawn")
    p.set_defaults(func=run_correlate)

    p = commands.add_parser("cox", help="multivariable Cox proportional hazards")
    _table_options(p)
    _survival_options(p)
    p.add_argument("--covariates", action="append", required=True, help="covariate columns (comma-separated)")
    p.add_argument("--interactions", action="append", help="interaction terms like CPCELL:MIRVMaxDissimilarity")
    p.add_argument("--categorical", action="append", help="columns to dummy-code (text columns always are)")
    p.add_argument("--reference", action="append", metavar="COLUMN=LEVEL", help="reference level of a categorical column")
    p.add_argument("--standardize", action="store_true", help="z-score continuous covariates (HR per SD)")
    p.add_argument("--penalizer", type=float, default=0.0, help="lifelines L2 penalizer (default 0)")
    p.set_defaults(func=run_cox)

    p = commands.add_parser("km", help="Kaplan–Meier by median split, log-rank with BH across subgroups and metrics")
    _table_options(p)
    _survival_options(p)
    p.add_argument("--metrics", "--column", dest="metrics", action="append", required=True, help="columns to split")
    p.add_argument("--group-by", help="also analyse within each level of this column (e.g. histology)")
    p.add_argument("--cutoff", action="append", metavar="VALUE|COLUMN=VALUE", help="fixed cut-off instead of the median")
    p.add_argument("--cox", action="store_true", help="add a univariable Cox HR of the metric per subgroup")
    p.set_defaults(func=run_km)

    p = commands.add_parser("compare", help="Kruskal–Wallis of metrics across a category, with box plots")
    _table_options(p)
    p.add_argument("--metrics", action="append", required=True, help="metric columns (comma-separated)")
    p.add_argument("--group", required=True, help="categorical column")
    p.set_defaults(func=run_compare)

    p = commands.add_parser("simulate", help="lesion subsampling simulation (Henry et al. 2022)")
    p.add_argument("--features", required=True, help="lesion feature CSV: PatientID, LesionID, [Site], features...")
    p.add_argument("--model", help="MIRV model JSON or shipped name (e.g. SARC021-lung-reference); else fitted")
    p.add_argument("--preset", choices=PRESETS, default="paper", help="reduction preset when fitting (default paper)")
    p.add_argument("--sites", help="CSV with PatientID, LesionID, Site (overrides the Site column of --features)")
    p.add_argument("--strategies", action="append",
                   help=f"default: {','.join(DEFAULT_STRATEGIES)}; also all, random:K, per-site:K")
    p.add_argument("--simulations", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-k", type=int, default=max(CURVE_K), help="recovery curve for k = 2..MAX_K random lesions")
    p.add_argument("--target", type=float, default=RECOVERY_TARGET,
                   help=f"recovery %% the curve must reach (default {RECOVERY_TARGET:g})")
    p.add_argument("--exclude-sites", default=",".join(RECIST_EXCLUDED_SITES),
                   help="sites RECIST-like sampling skips (comma-separated)")
    p.add_argument("--no-cap", action="store_true", help="do not cap recovery at 100 %%")
    p.add_argument("--nonfinite", choices=NONFINITE_POLICIES, default="drop-lesion")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run_simulate)

    p = commands.add_parser("report", help="assemble the analyses in a folder into report.html")
    p.add_argument("--out", required=True, help="folder the analyses wrote into")
    p.add_argument("--title", default="MIRV cohort statistics")
    p.set_defaults(func=run_report)


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
        print(f"mirv stats {name}: error: cannot write {error.filename or '--out'}: {error.strerror or error}",
              file=sys.stderr)
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
                                penalizer=args.penalizer, inputs=inputs)
    return _guarded("cox", body)


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
        return analyses.run_km(table, args.duration, args.event, _names(args.metrics), args.out, group_by=args.group_by,
                               cutoff=_cutoffs(args.cutoff), univariable_cox=args.cox, inputs=inputs)
    return _guarded("km", body)


def run_compare(args: argparse.Namespace) -> int:
    def body():
        from MIRVLib.stats import analyses

        table, inputs = _load(args)
        return analyses.run_compare(table, _names(args.metrics), args.group, args.out, inputs=inputs)
    return _guarded("compare", body)


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
                lesions, args.out, model=args.model, preset=args.preset, sites=sites, inputs=inputs,
                strategies=strategies, simulations=args.simulations, seed=args.seed,
                curve_k=tuple(range(2, args.max_k + 1)), target=args.target, exclude_sites=_names([args.exclude_sites]),
                cap=not args.no_cap, progress=progress)
    return _guarded("simulate", body)


def run_report(args: argparse.Namespace) -> int:
    def body():
        from MIRVLib.stats.report import build_report

        path = build_report(Path(args.out), args.title)
        print(f"report: {path}")
        return path
    return _guarded("report", body)

