"""`mirv cohort --figures`: per-patient matrix figures and one HTML report for a scored cohort.

The figures, readout and report sections come from `MIRVLib.patient_report` — what the Slicer module and
MIRVBatch.py write for one patient — so a patient's page reads the same whichever tool made it, and every value
in the report is the one in patients.csv.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import pandas as pd

from MIRVLib import patient_report
from MIRVLib.cohort import CohortResult
from MIRVLib.file_names import file_stems
from MIRVLib.lesion_table import LESION_ID, PATIENT_ID, SITE, LesionTable
from MIRVLib.quantities import human_value

FIGURES = "figures"
REPORT = "report.html"
SUMMARY_COLUMNS = ["PatientID", "NumLesions", "MIRVMaxDissimilarity", "MIRVMaxDistance", "BaselineVolumeTotal",
                   "TotalBurdenChangePercent", "CompleteTumorResponse", "Warnings"]


def write_figures_and_report(result: CohortResult, table: LesionTable, out_dir: str | os.PathLike[str],
                             provenance: dict[str, Any], scale_mode: str = "full") -> list[Path]:
    """``figures/<PatientID>_{dissimilarity,distance}.png`` for every patient with ≥ 2 lesions and
    ``report.html`` (cohort summary first, then one section per such patient, figures linked, not embedded);
    returns the files written."""
    out = Path(out_dir)
    rows = result.patients.set_index(PATIENT_ID, drop=False)
    lesions = table.frame.set_index(PATIENT_ID)
    changes = result.lesion_changes.set_index(PATIENT_ID) if result.lesion_changes is not None else None
    written: list[Path] = []
    sections = []
    for patient, stem in zip(result.mirv, file_stems([p.patient_id for p in result.mirv])):
        if patient.num_lesions < 2:
            continue
        row = rows.loc[patient.patient_id].to_dict()
        own = lesions.loc[[patient.patient_id]]
        sites = dict(zip(own[LESION_ID], own[SITE])) if SITE in own else {}
        images = patient_report.save_matrix_figures(out / FIGURES, stem, patient, result.reduction, sites, row,
                                                    scale_mode)
        written += images.values()
        patient_changes = None
        if changes is not None and patient.patient_id in changes.index:
            patient_changes = changes.loc[[patient.patient_id]].reset_index()
        warnings = [w for w in str(row.get("Warnings") or "").split(" ; ") if w]
        text = patient_report.readout(patient.patient_id, row, patient_report.site_counts(sites.values()),
                                      len(result.reduction.selected), patient_changes, warnings=warnings)
        own_lesions = own.reset_index()
        lesion_table = own_lesions[[c for c in (LESION_ID, SITE) if c in own_lesions]]
        if patient_changes is not None:
            lesion_table = lesion_table.merge(patient_changes[[LESION_ID, "PercentChange", "Status"]], on=LESION_ID,
                                              how="outer")
        sections.append(patient_report.patient_section(patient.patient_id, text, images, lesion_table, row, out))
    written.append(patient_report.write_report(out / REPORT, "MIRV — cohort report", _summary(result, len(sections)),
                                               sections, provenance))
    return written


def _summary(result: CohortResult, with_figures: int) -> str:
    """The cohort summary that opens the report: counts, cohort warnings, the main patients.csv columns."""
    patients = result.patients
    columns = [c for c in SUMMARY_COLUMNS if c in patients]
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in result.warnings)
    table = patients[columns].copy()
    if "CompleteTumorResponse" in table:
        table["CompleteTumorResponse"] = [human_value("CompleteTumorResponse", v)
                                          for v in table["CompleteTumorResponse"]]
    defined = int(pd.to_numeric(patients["MIRVMaxDistance"], errors="coerce").notna().sum())
    return (f"<section id=\"cohort\"><h2>Cohort summary</h2><p>{len(patients)} patient(s), {defined} with MIRV "
            f"(≥ 2 lesions); {with_figures} patient section(s) below.</p>"
            + (f"<h3>Warnings</h3><ul>{warnings}</ul>" if warnings else "")
            + patient_report.table_html(table) + "</section>")
