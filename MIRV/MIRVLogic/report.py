"""A one-page HTML report of one patient's MIRV: readout, lesion table, matrix and 3D pictures, provenance.

Self-contained (pictures embedded as data URIs), so it can be mailed or archived as a single file.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

import pandas as pd

from MIRVLib.provenance import atomic_write_text


def _image(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _value(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def write_patient_report(path: str | os.PathLike[str], result, images: dict[str, Path],
                         provenance: dict[str, Any]) -> Path:
    """``images`` maps captions to PNG files; ``result`` is a `MIRVLogic.patient.MIRVResult`."""
    lesions = result.lesions.copy()
    if result.lesionChanges is not None:
        changes = result.lesionChanges.set_index("LesionID")[["PercentChange", "Status"]]
        lesions = lesions.join(changes.rename(columns={"Status": "FollowUp"}), on="LesionID")
    lesion_rows = "".join("<tr>" + "".join(f"<td>{_value(v)}</td>" for v in row) + "</tr>"
                          for row in lesions.itertuples(index=False))
    summary_rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_value(v)}</td></tr>"
                           for k, v in result.exportRow().items())
    versions = ", ".join(f"{k} {v}" for k, v in provenance.get("versions", {}).items())
    inputs = "".join(f"<li>{html.escape(k)}: {html.escape(str(v.get('path')))} (sha256 {v.get('sha256', '')[:12]}…)</li>"
                     for k, v in provenance.get("inputs", {}).items())
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MIRV — patient {html.escape(result.patientID)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; }}
pre {{ background: #f4f4f8; padding: .8em; white-space: pre-wrap; }}
table {{ border-collapse: collapse; font-size: 90%; }} td, th {{ border: 1px solid #ccc; padding: 2px 6px; text-align: left; }}
figure {{ display: inline-block; margin: .5em; vertical-align: top; }} img {{ max-width: 520px; }}
.columns {{ display: flex; gap: 2em; flex-wrap: wrap; }}
</style></head><body>
<h1>MIRV — patient {html.escape(result.patientID)}</h1>
<p>Measured intrapatient radiomic variability (Geady et al. 2025): pairwise cosine dissimilarity and Euclidean
distance between the patient's lesions in the reduced, z-scored radiomic feature space of model
<b>{html.escape(str(provenance.get('model', {}).get('name', '')))}</b>.</p>
<pre>{html.escape(result.readout())}</pre>
{''.join(_image(p, caption) for caption, p in images.items())}
<div class="columns">
<div><h2>Lesions</h2><table><tr>{''.join(f'<th>{html.escape(c)}</th>' for c in lesions.columns)}</tr>{lesion_rows}</table></div>
<div><h2>Patient row (patients.csv)</h2><table>{summary_rows}</table></div>
</div>
<h2>Provenance</h2>
<ul>{inputs}<li>extraction preset: {html.escape(str(provenance.get('preset', '')))}</li>
<li>versions: {html.escape(versions)}</li><li>created: {html.escape(str(provenance.get('created', '')))}</li></ul>
<p><small>A research tool, not a medical device.</small></p>
</body></html>
"""
    return atomic_write_text(path, page)
