"""One self-contained HTML page from the tables and figures the analyses wrote into a folder.

Images are embedded (base64) so the report can be mailed or archived as one file; every section shows the
analysis' parameters and n from its provenance record, so a table is never separated from how it was made.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
from pathlib import Path

import pandas as pd

from MIRVLib.provenance import atomic_write_text, library_versions
from MIRVLib.stats.analyses import ANALYSES

TITLES = {"correlate": "Spearman correlations", "cox": "Cox proportional hazards", "km": "Kaplan–Meier and log-rank",
          "compare": "Group comparisons (Kruskal–Wallis)", "simulate": "Lesion subsampling simulation"}
MAX_ROWS = 200
_STYLE = """body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}img{max-width:100%;margin:0.5em 0}
h2{border-bottom:2px solid #345;padding-bottom:3px}details{margin-bottom:1em;font-size:12px}
pre{background:#f7f7f7;padding:0.5em}"""


def _table_html(path: Path) -> str:
    frame = pd.read_csv(path)
    note = ""
    if len(frame) > MAX_ROWS:
        note = f"<p>first {MAX_ROWS} of {len(frame)} rows — full table in <code>{html.escape(path.name)}</code></p>"
        frame = frame.head(MAX_ROWS)
    body = frame.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0)
    return f"<h3>{html.escape(path.stem)}</h3>{note}{body}"


def _image_html(path: Path) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{encoded}">'
            f'<figcaption>{html.escape(path.name)}</figcaption></figure>')


def build_report(out_dir: str | Path, title: str = "MIRV cohort statistics", report_name: str = "report.html") -> Path:
    """Assemble every analysis found in ``out_dir`` (by its ``<analysis>_provenance.json``) into ``report.html``."""
    folder = Path(out_dir)
    sections = []
    for name in ANALYSES:
        record_path = folder / f"{name}_provenance.json"
        if not record_path.is_file():
            continue
        record = json.loads(record_path.read_text(encoding="utf-8"))
        parts = [f'<h2 id="{name}">{html.escape(TITLES[name])}</h2>']
        parameters = record.get("parameters", {})
        parts.append("<p>" + "; ".join(f"<b>{html.escape(str(k))}</b>: {html.escape(json.dumps(v, default=str))}"
                                       for k, v in parameters.items()) + "</p>")
        parts += [_image_html(folder / f) for f in record.get("figures", []) if (folder / f).is_file()]
        parts += [_table_html(folder / f) for f in record.get("tables", []) if (folder / f).is_file()]
        parts.append(f"<details><summary>provenance</summary><pre>{html.escape(json.dumps(record, indent=2))}</pre></details>")
        sections.append("\n".join(parts))
    if not sections:
        raise FileNotFoundError(f"no analysis results (*_provenance.json) in {folder}")
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    versions = ", ".join(f"{k} {v}" for k, v in library_versions().items())
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_STYLE}</style>"
            f"</head><body><h1>{html.escape(title)}</h1><p>created {created}; {html.escape(versions)}</p>"
            + "\n".join(sections) + "</body></html>\n")
    return atomic_write_text(folder / report_name, page)
