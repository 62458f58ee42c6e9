"""`mirv cohort --figures`: per-patient matrix figures and one HTML report for a scored cohort.

The figures, readout and report sections come from `MIRVLib.patient_report` — what the Slicer module and
MIRVBatch.py write for one patient — so a patient's page reads the same whichever tool made it, and every value
in the report is the one in patients.csv. The page opens with the summary `mirv cohort` prints; the patients
table, warnings, left-out lesions and (in a cohort of more than a few) the patient sections are folded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from MIRVLib import patient_report
from MIRVLib.cohort import CohortResult, cohort_summary
from MIRVLib.file_names import file_stems
from MIRVLib.lesion_table import LESION_ID, PATIENT_ID, SITE, LesionTable
from MIRVLib.quantities import human_value
from MIRVLib.report_html import MAX_OPEN_ITEMS, folded, list_block, preformatted, table_block
from MIRVLib.stats.summary import format_number

FIGURES = "figures"
REPORT = "report.html"
SUMMARY_COLUMNS = ["PatientID", "NumLesions", "MIRVMaxDissimilarity", "MIRVMaxDistance", "BaselineVolumeTotal",
                   "TotalBurdenChangePercent", "CompleteTumorResponse", "Warnings"]


def write_figures_and_report(result: CohortResult, table: LesionTable, out_dir: str | os.PathLike[str],
                             provenance: dict[str, Any], scale_mode: str = "full", model: str | None = None) -> list[Path]:
    """``figures/<PatientID>_{dissimilarity,distance}.png`` for every patient with ≥ 2 lesions and
    ``report.html`` (cohort summary first, then one section per such patient, figures linked, not embedded);
    returns the files written. ``model`` is named in the summary as `cohort_summary` names it."""
    out = Path(out_dir)
    rows = result.patients.set_index(PATIENT_ID, drop=False)
    lesions = table.frame.set_index(PATIENT_ID)
    changes = result.lesion_changes.set_index(PATIENT_ID) if result.lesion_changes is not None else None
    written: list[Path] = []
    sections: list[tuple[str, str]] = []  # (folded label, section)
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
        section = patient_report.patient_section(patient.patient_id, text, images, lesion_table, row, out)
        sections.append((_section_label(row), section))
    if len(sections) > MAX_OPEN_ITEMS:  # a cohort's sections fold to one line each: ID, lesions, MIRV
        parts = [folded(label, section) for label, section in sections]
    else:
        parts = [section for _, section in sections]
    written.append(patient_report.write_report(out / REPORT, "MIRV — cohort report",
                                               _summary(result, table, len(sections), model), parts, provenance))
    return written


def _section_label(row: dict[str, Any]) -> str:
    return (f"Patient {row[PATIENT_ID]}: {row['NumLesions']} lesions; MIRV(max) dissimilarity "
            f"{format_number(row['MIRVMaxDissimilarity'])}, distance {format_number(row['MIRVMaxDistance'])}")


def _summary(result: CohortResult, table: LesionTable, with_sections: int, model: str | None) -> str:
    """The opening section: the console summary of `mirv cohort`, then warnings, left-out lesions and features,
    and the main patients.csv columns (each folded when long)."""
    patients = result.patients
    shared = set(result.warnings)  # cohort warnings are repeated in every patient's Warnings cell
    patient_warnings = [f"patient {patient}: {warning}" for patient, cell in zip(patients[PATIENT_ID], patients["Warnings"])
                        for warning in str(cell or "").split(" ; ") if warning and warning not in shared]
    left_out = [f"patient {p} lesion {lesion}: no features ({reason})" for p, lesion, reason in table.failed_lesions]
    left_out += [f"patient {p} lesion {lesion}: non-finite feature values" for p, lesion in table.dropped_lesions]
    frame = patients[[c for c in SUMMARY_COLUMNS if c in patients]]
    frame = frame.apply(lambda column: [human_value(str(column.name), v) for v in column])  # as in each patient's row
    return "\n".join([
        '<section id="cohort"><h2>Cohort summary</h2>', preformatted(cohort_summary(result, model)),
        f"<p>{with_sections} patient section(s) below: every patient with ≥ 2 lesions.</p>",
        list_block("Warnings", result.warnings), list_block("Patient warnings", patient_warnings),
        list_block("Lesions left out", left_out),
        list_block("Features left out (non-finite values)", list(table.dropped_features)),
        table_block("Patients", patient_report.table_html(frame), len(frame)), "</section>"])
