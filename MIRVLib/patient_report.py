"""A patient's readout, matrix figures and HTML report section — the same for `mirv cohort --figures`, the
Slicer module and MIRVBatch.py, so a reader sees the same numbers, names and units whichever tool wrote them.

Reports are self-contained (pictures embedded as data URIs), so they can be mailed or archived as one file.
A page leads with the numbers (a patient's readout, a cohort's summary); long tables are folded
(`MIRVLib.report_html`) and the method note comes after them.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from MIRVLib.applicability import UNKNOWN_SITE
from MIRVLib.colour_scale import colour_scale
from MIRVLib.matrix_figure import save_matrix_png
from MIRVLib.metrics import PAIR_SEPARATOR, PatientMIRV
from MIRVLib.provenance import atomic_write_text
from MIRVLib.quantities import format_volume, human_value, is_missing, yes_no
from MIRVLib.reduction import FeatureReduction
from MIRVLib.report_html import folded, preformatted, table_block

METRIC_LABELS = {"dissimilarity": "Cosine dissimilarity", "distance": "Euclidean distance"}
METRIC_TITLES = {"dissimilarity": "cosine dissimilarity", "distance": "Euclidean distance"}


def site_counts(sites: Iterable[Any]) -> dict[str, int]:
    """Lesions per site as written on the segments / in the Site column (empty → 'unknown'), sorted by site."""
    counts: dict[str, int] = {}
    for site in sites:
        name = UNKNOWN_SITE if site is None or pd.isna(site) or not str(site).strip() else str(site)
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def most_divergent_pair(summary: Mapping[str, Any], metric: str) -> tuple[str, str] | None:
    pair = str(summary.get(f"MostDivergentPair{metric.capitalize()}") or "")
    first, _, second = pair.partition(PAIR_SEPARATOR)
    return (first, second) if pair else None


def readout(patient_id: str, summary: Mapping[str, Any], sites: Mapping[str, int], num_features: int,
            lesion_changes: pd.DataFrame | None = None, failed: Sequence[tuple[str, str, str]] = (),
            warnings: Sequence[str] = ()) -> str:
    """The readout as text, every quantity named and with its unit (the Slicer panel, scripts, reports)."""
    s = summary

    def number(key: str, digits: int = 3) -> str:
        value = s.get(key)
        return "n/a" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"

    known = {site: n for site, n in sites.items() if site != UNKNOWN_SITE}
    where = (f"in {len(known)} site(s) ({', '.join(f'{k} {v}' for k, v in sites.items())})" if known
             else "(sites not given)")
    lines = [f"Patient {patient_id}: {s['NumLesions']} lesions {where}"]
    if s.get("MIRVUndefinedReason"):
        lines.append(f"MIRV undefined: {s['MIRVUndefinedReason']}")
    lines += [
        f"MIRV(max) cosine dissimilarity {number('MIRVMaxDissimilarity')} "
        f"(mean {number('MIRVMeanDissimilarity')}; unitless, 0 = same direction … 2 = opposite); "
        f"percentile in the model's reference cohort {number('MIRVMaxDissimilarityPercentile', 0)}",
        f"MIRV(max) Euclidean distance {number('MIRVMaxDistance', 2)} (mean {number('MIRVMeanDistance', 2)}; "
        f"SD units of the model's {num_features} z-scored features); "
        f"percentile {number('MIRVMaxDistancePercentile', 0)}",
        f"Most divergent pair: {s.get('MostDivergentPairDissimilarity') or 'n/a'} (dissimilarity), "
        f"{s.get('MostDivergentPairDistance') or 'n/a'} (distance)",
        f"Baseline tumour burden: total {format_volume(s.get('BaselineVolumeTotal'))}; largest − "
        f"smallest lesion {format_volume(s.get('BaselineVolumeRange'))}",
    ]
    if lesion_changes is not None:
        lines += [
            f"Follow-up tumour burden: total {format_volume(s.get('FollowUpVolumeTotal'))}; "
            f"total-burden change {number('TotalBurdenChangePercent', 1)} %",
            f"Spread of per-lesion volume changes (largest − smallest): {number('VolumeChangeRange', 1)} "
            f"percentage points; complete tumour response: {yes_no(s.get('CompleteTumorResponse'))}",
        ]
        for change in lesion_changes.itertuples(index=False):
            value = "n/a" if pd.isna(change.PercentChange) else f"{change.PercentChange:+.1f} %"
            volumes = f"{format_volume(change.VolumeBaseline)} → {format_volume(change.VolumeFollowUp)}"
            lines.append(f"  {change.LesionID}: {value} ({change.Status}; {volumes})")
    for _, lesion_id, reason in failed:
        lines.append(f"Lesion {lesion_id} left out: {reason}")
    lines += [f"Warning: {warning}" for warning in warnings]
    return "\n".join(lines)


def save_matrix_figure(path: str | os.PathLike[str], patient: PatientMIRV, metric: str, model: FeatureReduction,
                       sites: Mapping[str, str] | None, summary: Mapping[str, Any], scale_mode: str = "full") -> Path:
    """One matrix PNG on the model's fixed colour scale, most divergent pair outlined."""
    label = METRIC_LABELS[metric]
    return save_matrix_png(path, patient.frame(metric), colour_scale(metric, model, scale_mode),
                           f"Patient {patient.patient_id}: pairwise {METRIC_TITLES[metric]}", label, dict(sites or {}),
                           most_divergent_pair(summary, metric))


def save_matrix_figures(folder: str | os.PathLike[str], stem: str, patient: PatientMIRV, model: FeatureReduction,
                        sites: Mapping[str, str] | None, summary: Mapping[str, Any],
                        scale_mode: str = "full") -> dict[str, Path]:
    """``<stem>_dissimilarity.png`` and ``<stem>_distance.png``; caption → path."""
    return {f"{label} matrix": save_matrix_figure(Path(folder) / f"{stem}_{metric}.png", patient, metric, model,
                                                  sites, summary, scale_mode)
            for metric, label in METRIC_LABELS.items()}


def _image(path: Path, caption: str, folder: Path | None) -> str:
    """Embedded as a data URI, or — with the report's ``folder`` — linked relative to it (a cohort report with
    hundreds of figures stays small)."""
    if folder is None:
        source = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    else:
        source = path.relative_to(folder).as_posix()
    return (f'<figure><img src="{html.escape(source)}" alt="{html.escape(caption)}" loading="lazy">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _cell(value: Any) -> str:
    if is_missing(value):
        return "–"
    return html.escape(f"{value:.4g}" if isinstance(value, float) else str(value))


def table_html(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<table><tr>{head}</tr>{rows}</table>"


def patient_section(patient_id: str, readout_text: str, images: Mapping[str, Path], lesions: pd.DataFrame,
                    row: Mapping[str, Any], link_from: Path | None = None) -> str:
    """One patient: readout, pictures (embedded, or linked from the folder ``link_from``), lesion table (folded
    when long) and the patients.csv row (folded: the readout states its numbers; flags yes/no, units shown)."""
    row_html = "".join(f'<tr><th>{html.escape(str(k))}</th><td data-column="{html.escape(str(k))}">'
                       f"{html.escape(human_value(str(k), v))}</td></tr>" for k, v in row.items())
    return f"""<section id="patient-{html.escape(patient_id)}">
<h2>Patient {html.escape(patient_id)}</h2>
{preformatted(readout_text, "readout")}
{''.join(_image(path, caption, link_from) for caption, path in images.items())}
{table_block("Lesions", table_html(lesions), len(lesions))}
{folded(f"Patient row (patients.csv, {len(row)} columns)", f"<table>{row_html}</table>")}
</section>"""


def write_report(path: str | os.PathLike[str], title: str, intro_html: str, sections: Sequence[str],
                 provenance: Mapping[str, Any]) -> Path:
    """The HTML page: title, introduction (e.g. the cohort summary), the patient sections, method, provenance."""
    versions = ", ".join(f"{k} {v}" for k, v in provenance.get("versions", {}).items())
    inputs = "".join(
        f"<li>{html.escape(k)}: {html.escape(str(v.get('path')))} (sha256 {str(v.get('sha256', ''))[:12]}…)</li>"
        for k, v in provenance.get("inputs", {}).items())
    model = provenance.get("model") or {}
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }}
pre {{ background: #f4f4f8; padding: .8em; white-space: pre-wrap; }} pre.summary {{ white-space: pre; overflow-x: auto; }}
table {{ border-collapse: collapse; font-size: 90%; }} td, th {{ border: 1px solid #ccc; padding: 2px 6px; text-align: left; }}
figure {{ display: inline-block; margin: .5em; vertical-align: top; }} img {{ max-width: 520px; }}
details {{ margin: .5em 0; }} summary {{ cursor: pointer; font-weight: 600; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
{intro_html}
{''.join(sections)}
<h2>Method</h2>
<p>Measured intrapatient radiomic variability (Geady et al. 2025): pairwise cosine dissimilarity and Euclidean
distance between the patient's lesions in the reduced, z-scored radiomic feature space of model
<b>{html.escape(str(model.get('name') or model.get('path') or 'fitted on this cohort'))}</b>. Matrix colours use
fixed scales (stated under each figure), so figures of different patients compare by colour.</p>
<h2>Provenance</h2>
<ul>{inputs}<li>extraction preset: {html.escape(str(provenance.get('preset', '')))}</li>
<li>versions: {html.escape(versions)}</li><li>created: {html.escape(str(provenance.get('created', '')))}</li></ul>
<p><small>A research tool, not a medical device.</small></p>
</body></html>
"""
    return atomic_write_text(path, page)
