"""Console summaries of analyses: a few lines a reader can act on, like lifelines' ``print_summary``.

Every `mirv stats` command and `mirv cohort` print one block: a title, the facts (n, events, settings) and a
small table of the key estimates (estimate, 95 % CI, p, FDR). Numbers are rounded by :func:`format_number`, so a
test can recompute the printed text from the CSV the analysis wrote. The fixed text is ASCII (``<=``, not ``≤``) so a
Windows console in cp1252 prints it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

SIGNIFICANT_DIGITS = 3
MAX_ROWS = 20


def format_number(value: Any, digits: int = SIGNIFICANT_DIGITS) -> str:
    """``value`` to ``digits`` significant digits ('-' for missing); integers and text unchanged."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (bool, str)):
        return str(value)
    if isinstance(value, int) or (hasattr(value, "is_integer") and float(value).is_integer() and abs(value) < 1e6):
        return str(int(value))
    return f"{float(value):.{digits}g}"


def format_p(value: Any) -> str:
    """A p-value: '<0.001' below a thousandth, else 3 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return "<0.001" if float(value) < 0.001 else format_number(value)


def format_interval(lower: Any, upper: Any) -> str:
    """'[lower, upper]'; '-' when neither bound exists (e.g. a subgroup too small to test)."""
    if format_number(lower) == format_number(upper) == "-":
        return "-"
    return f"[{format_number(lower)}, {format_number(upper)}]"


def console_block(
    title: str,
    facts: Mapping[str, Any] | None = None,
    table: pd.DataFrame | None = None,
    p_columns: Sequence[str] = ("p", "P", "FDR", "PValue", "pFDR"),
    note: str = "",
    max_rows: int = MAX_ROWS,
) -> str:
    """One summary block: title, ``key = value`` facts on one line, then the table (rounded; p-value columns
    with :func:`format_p`); longer tables are cut at ``max_rows`` with a line saying how many were left out."""
    lines = [title]
    if facts:
        lines.append("  " + ", ".join(f"{key} = {format_number(value)}" for key, value in facts.items()))
    if table is not None and len(table):
        shown = table.head(max_rows)
        text = pd.DataFrame({
            column: [format_p(v) if column in p_columns else format_number(v) for v in shown[column]]
            for column in shown.columns
        }, index=[str(i) for i in shown.index])
        rendered = text.to_string(index=not isinstance(table.index, pd.RangeIndex))
        lines.append("  " + "-" * min(max(len(line) for line in rendered.splitlines()), 100))
        lines.extend("  " + line for line in rendered.splitlines())
        if len(table) > max_rows:
            lines.append(f"  ... {len(table) - max_rows} more rows in the CSV")
    if note:
        lines.append("  " + note)
    return "\n".join(lines)


def _labelled(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Rows labelled by ``columns`` joined with ' | ' (one text index a reader can find again in the CSV)."""
    label = frame[list(columns)].astype(str).agg(" | ".join, axis=1)
    return frame.set_axis(label.to_list(), axis=0)


def correlate_summary(pairs: pd.DataFrame, missing: str, alpha: float) -> str:
    """Spearman pairs, smallest FDR first; n is one number (listwise) or the range over pairs (pairwise)."""
    n = pairs["n"]
    facts = {"n": int(n.min()) if n.min() == n.max() else f"{int(n.min())}-{int(n.max())}", "missing": missing,
             "pairs": len(pairs), f"FDR <= {alpha:g}": int((pairs["fdr"] <= alpha).sum())}
    shown = _labelled(pairs.sort_values(["fdr", "p"], kind="stable"), "column_a", "column_b")
    table = shown[["n", "rho", "p", "fdr"]].rename(columns={"fdr": "FDR"})
    return console_block("Spearman correlation (BH-FDR over all pairs)", facts, table)


def cox_summary(summary: pd.DataFrame, model: Mapping[str, Any], duration: str) -> str:
    """Log hazard ratio, hazard ratio with 95 % CI and p per design column (not adjusted: one model, not many
    tests). The coefficient is shown because an HR per unit of a large-scale column (volume in mm³) rounds to 1."""
    facts = {"duration": duration, "n": model["n"], "events": model["events"], "concordance": model["concordance"]}
    if model.get("penalizer"):
        facts["penalizer"] = model["penalizer"]
    table = pd.DataFrame({
        "coef": summary["coef"].to_numpy(),
        "HR": summary["exp(coef)"].to_numpy(),
        "95% CI": [format_interval(lo, hi) for lo, hi in zip(summary["exp(coef) lower 95%"], summary["exp(coef) upper 95%"])],
        "p": summary["p"].to_numpy(),
    }, index=summary["covariate"].astype(str).to_list())
    notes = [f"likelihood-ratio test p = {format_p(model['log_likelihood_ratio_test_p'])}"]
    if model.get("ph_test_min_p") is not None:
        notes.append(f"PH test (Schoenfeld): smallest p = {format_p(model['ph_test_min_p'])}")
    if model.get("warnings"):
        notes.append(f"{len(model['warnings'])} fit warning(s) in cox_provenance.json")
    note = "; ".join(notes)
    return console_block("Cox proportional hazards", facts, table, note=note)


def km_summary(table: pd.DataFrame, event: str, time_label: str) -> str:
    """Per metric × subgroup: split sizes, median survival per side, log-rank p and FDR (+ Cox HR if asked)."""
    facts = {"time": time_label, "event": event, "tests": int(table["p"].notna().sum())}
    shown = _labelled(table, "metric", "subgroup")
    out = pd.DataFrame({"n": shown["n"], "events": shown["events"], "cutoff": shown["cutoff"],
                        "median low": shown["median_survival_low"], "median high": shown["median_survival_high"],
                        "p": shown["p"], "FDR": shown["fdr"]})
    p_columns = ["p", "FDR"]
    if "cox_HR" in shown:
        out["HR"] = shown["cox_HR"]
        out["HR 95% CI"] = [format_interval(lo, hi) for lo, hi in zip(shown["cox_HR_lower_95"], shown["cox_HR_upper_95"])]
        out["HR p"] = shown["cox_p"]
        p_columns.append("HR p")
    return console_block("Kaplan-Meier, split at the cutoff (>= cutoff is high), log-rank", facts, out, p_columns)


def compare_summary(tests: pd.DataFrame, group: str) -> str:
    """Kruskal–Wallis H, p and FDR per metric."""
    table = tests.set_index("metric")[["levels", "n", "H", "p", "fdr"]].rename(columns={"fdr": "FDR"})
    table.index = table.index.astype(str)
    return console_block(f"Kruskal-Wallis across {group} (BH-FDR over metrics)", {"metrics": len(tests)}, table)


def simulate_summary(summary: pd.DataFrame, lesions_needed: pd.DataFrame, settings: Mapping[str, Any]) -> str:
    """% of the exhaustive index recovered per strategy (mean, 95 % interval) and the k reaching the target."""
    facts = {"patients": f"{settings['patients_included']} of {settings['patients_total']}",
             "simulations": settings["simulations"], "seed": settings["seed"]}
    shown = _labelled(summary, "strategy", "index")
    table = pd.DataFrame({"mean %": shown["mean"],
                          "95% interval": [format_interval(lo, hi) for lo, hi in zip(shown["lower_95"], shown["upper_95"])]},
                         index=shown.index)
    needed = ", ".join(f"{r['index']} k = {format_number(r['lesions_needed'])}" if pd.notna(r["lesions_needed"])
                       else f"{r['index']} not reached" for _, r in lesions_needed.iterrows())
    target = format_number(settings["target_percent"])
    return console_block("Lesion subsampling simulation (% of exhaustive value recovered)", facts, table,
                         note=f"random lesions needed for {target} %: {needed}")
