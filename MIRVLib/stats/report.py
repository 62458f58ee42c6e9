"""One self-contained HTML page from the tables and figures the analyses wrote into a folder.

Images are embedded (base64) so the report can be mailed or archived as one file; every section shows the
analysis' parameters and n from its provenance record, so a table is never separated from how it was made.
The page leads with the console summaries (what a reader wants first), then figures and the main table of
each analysis; the other tables (square matrices, missing values, unmatched IDs) and long ones are folded.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
from pathlib import Path

import pandas as pd

from MIRVLib.provenance import atomic_write_text, library_versions
from MIRVLib.report_html import folded, is_folded, preformatted, table_block
from MIRVLib.stats.analyses import ANALYSES
from MIRVLib.stats.summary import console_block

TITLES = {"correlate": "Spearman correlations", "cox": "Cox proportional hazards", "km": "Kaplan–Meier and log-rank",
          "compare": "Group comparisons (Kruskal–Wallis)", "roc": "ROC curves and DeLong tests",
          "model": "Cross-validated models", "simulate": "Lesion subsampling simulation",
          "icc": "Inter-rater agreement (ICC)", "variation": "Intrapatient feature variation (|CV| tests)",
          "cluster_features": "Hierarchical-clustering feature selection"}
MAX_ROWS = 200
MAIN_TABLES = {"correlate_pairs", "cox_summary", "cox_discrimination", "km_logrank", "compare_kruskal", "roc_summary",
               "roc_pairs", "model_summary", "model_comparison", "simulate_summary", "simulate_lesions_needed",
               "icc_summary", "variation_tests", "cluster_selected"}
_STYLE = """body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}img{max-width:100%;margin:0.5em 0}
h2{border-bottom:2px solid #345;padding-bottom:3px}details{margin-bottom:1em;font-size:12px}
pre{background:#f7f7f7;padding:0.5em}"""


def _table_html(path: Path) -> str:
    """A main table of at most `MIRVLib.report_html.MAX_OPEN_ROWS` rows is shown; any other table is folded."""
    frame = pd.read_csv(path)
    rows = len(frame)
    note = ""
    if rows > MAX_ROWS:
        note = f"<p>first {MAX_ROWS} of {rows} rows — full table in <code>{html.escape(path.name)}</code></p>"
        frame = frame.head(MAX_ROWS)
    body = note + frame.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0)
    return table_block(path.stem, body, rows, main=path.stem in MAIN_TABLES)


def _records(folder: Path) -> dict[str, dict]:
    """Provenance record per analysis found in ``folder``, in the fixed analysis order."""
    paths = {name: folder / f"{name}_provenance.json" for name in ANALYSES}
    return {name: json.loads(path.read_text(encoding="utf-8")) for name, path in paths.items() if path.is_file()}


def _summary_text(folder: Path, name: str, record: dict) -> str:
    """The analysis' console summary: from its provenance, else its ``<analysis>_summary.txt``."""
    path = folder / f"{name}_summary.txt"
    return record.get("summary") or (path.read_text(encoding="utf-8").rstrip() if path.is_file() else "")


def _summary_html(folder: Path, records: dict[str, dict]) -> str:
    parts = ['<h2 id="summary">Summary</h2>']
    for name, record in records.items():
        text = _summary_text(folder, name, record) or "(no summary recorded: re-run the analysis with this version)"
        parts.append(f'<h3><a href="#{name}">{html.escape(TITLES[name])}</a></h3>{preformatted(text)}')
    return "\n".join(parts)


def report_summary(out_dir: str | Path, path: Path) -> str:
    """The console lines of `mirv stats report`: which analyses the page holds, with their n and file counts."""
    records = _records(Path(out_dir))
    table = pd.DataFrame([{"n": record.get("n"), "figures": len(record.get("figures", [])),
                           "tables": len(record.get("tables", []))} for record in records.values()], index=list(records))
    return console_block(f"Report {path}", {"analyses": len(records)}, table)


def _image_html(path: Path) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{encoded}">'
            f'<figcaption>{html.escape(path.name)}</figcaption></figure>')


def build_report(out_dir: str | Path, title: str = "MIRV cohort statistics", report_name: str = "report.html") -> Path:
    """Assemble every analysis found in ``out_dir`` (by its ``<analysis>_provenance.json``) into ``report.html``."""
    folder = Path(out_dir)
    records = _records(folder)
    sections = [_summary_html(folder, records)] if records else []
    for name, record in records.items():
        parts = [f'<h2 id="{name}">{html.escape(TITLES[name])}</h2>']
        parameters = record.get("parameters", {})
        parts.append("<p>" + "; ".join(f"<b>{html.escape(str(k))}</b>: {html.escape(json.dumps(v, default=str))}"
                                       for k, v in parameters.items()) + "</p>")
        parts += [_image_html(folder / f) for f in record.get("figures", []) if (folder / f).is_file()]
        tables = [_table_html(folder / f) for f in record.get("tables", []) if (folder / f).is_file()]
        parts += sorted(tables, key=is_folded)  # open tables first, folded after
        parts.append(folded("provenance", preformatted(json.dumps(record, indent=2), "provenance")))
        sections.append("\n".join(parts))
    if not sections:
        raise FileNotFoundError(f"no analysis results (*_provenance.json) in {folder}")
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    versions = ", ".join(f"{k} {v}" for k, v in library_versions().items())
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_STYLE}</style>"
            f"</head><body><h1>{html.escape(title)}</h1><p>created {created}; {html.escape(versions)}</p>"
            + "\n".join(sections) + "</body></html>\n")
    return atomic_write_text(folder / report_name, page)
